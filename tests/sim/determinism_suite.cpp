// Determinism: the same scenario and seed give byte-identical CSVs (with a
// fault, an uplink, static and dynamic placement, fused units); another seed
// gives different ones (so the comparison can fail). A run of one load level
// draws its plots.
#include "scratch_dir.hpp"

#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/simulation.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace tessera;

namespace {

std::string bytes_of(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

sim::scenario small_scenario(uint64_t seed) {
  auto s = sim::parse_scenario_text(R"(
    policies = ["reuse_aware", "fifo"]
    [nodes]
    count = 2
    budget_mb = 100.0
    [workload]
    kind = "bursty"
    rate_per_s = 40.0
    on_ms = 1000.0
    off_ms = 500.0
    requests = 400
    uplink_mb_per_s = 20.0
    input_kb = 200.0
    [[faults]]
    node = 1
    at_ms = 4000.0
    [[configs]]
    name = "dyn"
    uplink = "edf"
    [[configs]]
    name = "fix"
    placement = "static"
    unit = "group"
  )");
  REQUIRE(s);
  s->seed = seed;
  return *s;
}

// Runs the small scenario into `dir`, without plots.
std::vector<sim::run_summary> rows_into(const std::string& dir, const sim::scenario& s) {
  sim::simulation_options opts;
  opts.out_dir = dir;
  opts.progress = false;
  opts.plots = false;
  auto rows = sim::run_simulation(s, sim::synthetic_models(s.models), opts);
  REQUIRE(rows);
  return *rows;
}

std::vector<std::string> run_into(const std::string& dir, uint64_t seed) {
  rows_into(dir, small_scenario(seed));
  std::vector<std::string> files;
  for (auto name : {"summary.csv", "dyn_reuse_aware_x1.00_requests.csv", "dyn_reuse_aware_x1.00_nodes.csv",
                    "dyn_fifo_x1.00_requests.csv", "fix_fifo_x1.00_requests.csv", "fix_reuse_aware_x1.00_nodes.csv"})
    files.push_back(bytes_of(dir + "/" + name));
  return files;
}

} // namespace

TEST_SUITE("determinism") {
  TEST_CASE("the same seed gives byte-identical CSVs") {
    test::scratch_dir a{"sim-det-a"}, b{"sim-det-b"}, c{"sim-det-c"};
    auto first = run_into(a.path(), 42);
    auto second = run_into(b.path(), 42);
    REQUIRE(first.size() == second.size());
    for (size_t i = 0; i < first.size(); ++i) {
      CHECK(first[i].size() > 100);
      CHECK(first[i] == second[i]);
    }
    auto other = run_into(c.path(), 43);
    CHECK(other[1] != first[1]);
  }
}

TEST_SUITE("determinism") {
  TEST_CASE("a scenario with one load level gets its plots") {
    // gnuplot is installed by deploy/setup.sh. With one level the x range was
    // empty, and the per-node CSVs were read without their separator, so
    // gnuplot failed and no PNG was written.
    test::scratch_dir dir{"sim-plots"};
    auto s = small_scenario(7);
    REQUIRE(s.workload.load_levels.size() == 1);
    CHECK(sim::draw_plots(s, rows_into(dir.path(), s), dir.path()));
    for (auto name : {"deadline_throughput.png", "latency_p99.png", "dyn_reuse_aware_x1.00_busy.png"})
      CHECK(bytes_of(dir.path() + "/" + name).size() > 1000);
  }
}
