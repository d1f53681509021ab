// Scenario parsing: defaults, every workload kind, and errors that name the
// field they are about.
#include "tessera/core/error.hpp"
#include "tessera/sim/scenario.hpp"

#include <doctest/doctest.h>

using namespace tessera;

namespace {

// The error text of parsing `text`, or "" when it parses.
std::string error_of(const std::string& text) {
  auto s = sim::parse_scenario_text(text);
  return s ? std::string{} : describe(s.error());
}

} // namespace

TEST_SUITE("scenario") {
  TEST_CASE("a full scenario parses into its fields") {
    auto s = sim::parse_scenario_text(R"(
      seed = 9
      policies = ["edf", "fifo"]
      [nodes]
      count = 3
      executors = 2
      budget_mb = 64.0
      load_mb_per_s = 500.0
      residency = "lru_models"
      [models]
      families = 2
      variants = 5
      sharing = "none"
      [workload]
      kind = "diurnal"
      rate_per_s = 20.0
      amplitude = 0.5
      load_levels = [0.5, 1.5]
      requests = 77
      [[faults]]
      node = 2
      at_ms = 1500.0
    )");
    REQUIRE(s);
    CHECK(s->seed == 9);
    CHECK(s->policies == std::vector<actors::queue_order>{actors::queue_order::edf, actors::queue_order::fifo});
    CHECK(s->nodes.count == 3);
    CHECK(s->nodes.executors == 2);
    CHECK(s->nodes.residency == residency_policy::lru_models);
    CHECK(s->models.synthetic.variants == 5);
    CHECK_FALSE(s->models.synthetic.shared_trunk);
    CHECK(s->workload.kind == sim::arrival_kind::diurnal);
    CHECK(s->workload.load_levels == std::vector<double>{0.5, 1.5});
    CHECK(s->workload.requests == 77);
    REQUIRE(s->faults.size() == 1);
    CHECK(s->faults[0].node == 2);
    CHECK(s->faults[0].at_ms == doctest::Approx(1500.0));
  }

  TEST_CASE("errors name the bad field") {
    CHECK(error_of("[nodes]\ncount = 0\n").find("nodes.count") != std::string::npos);
    CHECK(error_of("[nodes]\nbudget_mb = \"big\"\n").find("nodes.budget_mb") != std::string::npos);
    CHECK(error_of("[nodes]\nresidency = \"random\"\n").find("nodes.residency") != std::string::npos);
    CHECK(error_of("[workload]\nkind = \"zipfian\"\n").find("workload.kind") != std::string::npos);
    CHECK(error_of("[workload]\nkind = \"trace\"\n").find("workload.trace") != std::string::npos);
    CHECK(error_of("[workload]\nload_levels = [1.0, -2.0]\n").find("workload.load_levels") != std::string::npos);
    CHECK(error_of("[workload]\nslack_min = 5.0\nslack_max = 2.0\n").find("workload.slack_max")
          != std::string::npos);
    CHECK(error_of("[workload]\nrate = 5.0\n").find("workload.rate") != std::string::npos);
    CHECK(error_of("policies = [\"lifo\"]\n").find("policies") != std::string::npos);
    CHECK(error_of("[models]\nsource = \"hub\"\n").find("models.source") != std::string::npos);
    CHECK(error_of("[nodes]\ncount = 2\n[[faults]]\nnode = 2\nat_ms = 5.0\n").find("faults[0].node")
          != std::string::npos);
    CHECK(error_of("[[faults]]\nat_ms = 5.0\n").find("faults[0].node") != std::string::npos);
  }

  TEST_CASE("bad TOML is reported with its line") {
    auto text = error_of("seed = 1\n[nodes\ncount = 2\n");
    CHECK(text.find("line 2") != std::string::npos);
  }

  TEST_CASE("a valid minimal scenario takes the documented defaults") {
    auto s = sim::parse_scenario_text("");
    REQUIRE(s);
    CHECK(s->nodes.count == 1);
    CHECK(s->workload.kind == sim::arrival_kind::poisson);
    CHECK(s->policies.size() == 1);
  }
}
