// The simulator features behind the shipped comparisons: swapping a model
// larger than its budget, fused groups as units, static against dynamic
// placement, queue expiry in virtual time, the shared uplink, and [[configs]].
#include "scratch_dir.hpp"
#include "why.hpp"

#include "tessera/core/error.hpp"
#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/simulation.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <set>

using namespace tessera;

namespace {

sim::scenario parse(const std::string& text) {
  auto s = sim::parse_scenario_text(text);
  REQUIRE_MESSAGE(s, test::why(s));
  return *s;
}

sim::cluster_run run(const sim::scenario& s, actors::queue_order policy = actors::queue_order::edf) {
  auto models = sim::synthetic_models(s.models);
  auto requests = sim::make_workload(s, models, 1.0);
  REQUIRE(requests);
  auto out = sim::run_cluster(s, models, *requests, policy, 1.0);
  REQUIRE(out);
  return std::move(*out);
}

// One 100 MB model of 10 blocks, requested now and then.
const char* big_model = R"(
  [nodes]
  load_mb_per_s = 400.0
  [models]
  families = 1
  variants = 1
  trunk_blocks = 10
  trunk_mb = 100.0
  head_mb = 0.0
  [workload]
  rate_per_s = 2.0
  requests = 60
  slack_min = 50.0
  slack_max = 50.0
)";

} // namespace

TEST_SUITE("comparisons") {
  TEST_CASE("a model larger than its budget fails without swap, and runs swapped faster as the budget grows") {
    auto s = parse(big_model);
    s.nodes.budget_mb = 40.0;
    auto refused = sim::summarize(run(s));
    CHECK(refused.failed == refused.requests);
    s.nodes.swap = true;
    double last_mean = 1.0e18, first_mean = 0.0;
    uint64_t last_loaded = UINT64_MAX;
    for (double budget : {25.0, 50.0, 90.0}) {
      s.nodes.budget_mb = budget;
      auto sum = sim::summarize(run(s));
      INFO("budget " << budget << " MB: mean " << sum.mean_ms << " ms, loaded " << sum.loaded_bytes);
      CHECK(sum.failed == 0);
      CHECK(sum.lost == 0);
      // Once compute-bound, more budget cannot make it faster, nor slower.
      CHECK(sum.mean_ms <= last_mean + 1.0e-9);
      if (first_mean == 0.0)
        first_mean = sum.mean_ms;
      CHECK(sum.loaded_bytes < last_loaded);
      // Never more than the budget resident between runs.
      CHECK(sum.peak_resident_bytes <= static_cast<uint64_t>(budget * 1.0e6));
      last_mean = sum.mean_ms;
      last_loaded = sum.loaded_bytes;
    }
    CHECK(last_mean < first_mean);
    // Streaming overlaps loads with compute: faster than loading it all, then computing.
    s.nodes.budget_mb = 25.0;
    auto streamed = run(s);
    const auto& r = streamed.world.records.front();
    double serial_ms = 250.0 /* 100 MB at 400 MB/s */ + 100.0 * s.models.exec_ms_per_mb;
    CHECK(r.end_ms - r.start_ms < serial_ms);
  }

  TEST_CASE("a fused family holds one trunk for all its variants; separate models hold one each") {
    auto text = std::string{R"(
      [nodes]
      budget_mb = 1000.0
      [models]
      families = 1
      variants = 3
      trunk_mb = 40.0
      head_mb = 4.0
      [workload]
      rate_per_s = 5.0
      requests = 120
      zipf = 0.0
    )"};
    auto fused = parse(text);
    fused.models.synthetic.fused = true;
    auto separate = parse(text);
    separate.models.synthetic.shared_trunk = false;
    auto f = sim::summarize(run(fused));
    auto p = sim::summarize(run(separate));
    CHECK(f.peak_resident_bytes == 52'000'000); // 40 + 3 x 4 MB
    CHECK(p.peak_resident_bytes == 132'000'000); // 3 x 44 MB
    CHECK(f.loaded_bytes < p.loaded_bytes);
    CHECK(f.switches == 1); // the group loads once
  }

  TEST_CASE("static placement runs each model on its home node only; dynamic spreads it") {
    auto s = parse(R"(
      [nodes]
      count = 3
      placement = "static"
      [workload]
      rate_per_s = 20.0
      requests = 300
    )");
    auto models = sim::synthetic_models(s.models);
    auto fixed = run(s);
    for (const auto& r : fixed.world.records) {
      auto m = std::find_if(models.begin(), models.end(), [&](const auto& x) { return x.name == r.model; });
      CHECK(r.node == static_cast<int32_t>((m - models.begin()) % 3));
    }
    s.nodes.placement = sim::placement_kind::dynamic;
    auto dynamic = run(s);
    std::set<int32_t> nodes_of_f0v0;
    for (const auto& r : dynamic.world.records)
      if (r.model == dynamic.world.records.front().model)
        nodes_of_f0v0.insert(r.node);
    CHECK(nodes_of_f0v0.size() > 1);
  }

  TEST_CASE("past saturation the scheduler drops requests whose virtual deadline passed in the queue") {
    auto s = parse(R"(
      [workload]
      rate_per_s = 60.0
      requests = 400
      slack_min = 2.0
      slack_max = 3.0
    )");
    auto r = run(s);
    auto sum = sim::summarize(r);
    CHECK(sum.lost == 0);
    CHECK(sum.met + sum.missed + sum.failed == sum.requests);
    size_t dropped = 0;
    for (const auto& rec : r.world.records)
      if (rec.status == sim::request_status::missed && rec.runs == 0)
        ++dropped;
    CHECK(dropped > 0);
    // A job that ran started before its deadline (expired ones never start).
    for (const auto& rec : r.world.records)
      if (rec.runs > 0)
        CHECK(rec.start_ms <= rec.deadline_ms);
  }

  TEST_CASE("the uplink: equal sharing slows simultaneous uploads alike; EDF finishes the urgent one first") {
    sim::workload_spec w;
    w.uplink_mb_per_s = 1.0;
    w.input_kb = 100.0; // 100 ms alone
    std::vector<sim::sim_request> two{{"a", 0.0, 1000.0}, {"b", 0.0, 300.0}};
    sim::apply_uplink(two, w);
    CHECK(two[0].ready_ms == doctest::Approx(200.0));
    CHECK(two[1].ready_ms == doctest::Approx(200.0));
    w.uplink_edf = true;
    sim::apply_uplink(two, w);
    CHECK(two[1].ready_ms == doctest::Approx(100.0));
    CHECK(two[0].ready_ms == doctest::Approx(200.0));
  }

  TEST_CASE("[[configs]] override fields, each config's runs are written under its name") {
    auto s = parse(R"(
      policies = ["edf"]
      [nodes]
      count = 2
      [workload]
      requests = 50
      [[configs]]
      name = "one_each"
      placement = "static"
      [[configs]]
      name = "two_each"
      executors = 2
      executor_speed = 0.8
      policies = ["edf", "fifo"]
    )");
    REQUIRE(s.configs.size() == 2);
    CHECK(s.configs[0].nodes.placement == sim::placement_kind::fixed);
    CHECK(s.configs[1].nodes.executors == 2);
    CHECK(s.configs[1].policies.size() == 2);
    test::scratch_dir out{"sim-configs"};
    sim::simulation_options opts;
    opts.out_dir = out.path();
    opts.progress = false;
    opts.plots = false;
    auto rows = sim::run_simulation(s, sim::synthetic_models(s.models), opts);
    REQUIRE(rows);
    REQUIRE(rows->size() == 3);
    CHECK((*rows)[0].config == "one_each");
    CHECK((*rows)[2].policy == "fifo");
    CHECK(std::filesystem::exists(out.path() + "/two_each_fifo_x1.00_requests.csv"));
    auto bad = sim::parse_scenario_text("[[configs]]\nname = \"a\"\ncount = 3\n");
    REQUIRE_FALSE(bad);
    CHECK(describe(bad.error()).find("configs[0].count") != std::string::npos);
  }
}
