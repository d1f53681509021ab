// A node failure: every request is answered exactly once (met, missed or
// failed; none lost), jobs move to the survivors, and with every node down
// the rest fail rather than vanish.
#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/sim_report.hpp"

#include <doctest/doctest.h>

using namespace tessera;

namespace {

sim::cluster_run run_with_faults(const std::string& faults) {
  auto s = sim::parse_scenario_text(R"(
    seed = 3
    [nodes]
    count = 3
    [workload]
    rate_per_s = 30.0
    requests = 600
  )" + faults);
  REQUIRE(s);
  auto models = sim::synthetic_models(s->models);
  auto requests = sim::make_workload(*s, models, 1.0);
  REQUIRE(requests);
  auto run = sim::run_cluster(*s, models, *requests, actors::queue_order::reuse_aware, 1.0);
  REQUIRE(run);
  return std::move(*run);
}

} // namespace

TEST_SUITE("failure") {
  TEST_CASE("after a node fails, its work goes to the survivors; none is lost or run twice") {
    auto run = run_with_faults("[[faults]]\nnode = 1\nat_ms = 5000.0\n");
    auto sum = sim::summarize(run);
    CHECK(sum.requests == 600);
    CHECK(sum.lost == 0);
    CHECK(sum.met + sum.missed + sum.failed == sum.requests);
    size_t after_on_dead = 0, after_on_live = 0, reruns = 0;
    for (const auto& r : run.world.records) {
      CHECK(r.answers == 1);
      if (r.start_ms > 5000.0)
        (r.node == 1 ? after_on_dead : after_on_live) += 1;
      if (r.runs > 1)
        ++reruns;
    }
    CHECK(after_on_dead == 0);
    CHECK(after_on_live > 0);
    // Node 1 worked before the fault and started nothing after it. A job runs
    // again only if it was in flight there at the fault (the next case fails
    // a node mid-job); here node 1 was between jobs.
    const auto& spans = run.world.slots.at(1).spans;
    REQUIRE_FALSE(spans.empty());
    CHECK(spans.back().start_ms <= 5000.0);
    size_t in_flight = 0;
    for (const auto& sp : spans)
      in_flight += sp.start_ms <= 5000.0 && sp.end_ms > 5000.0 ? 1 : 0;
    CHECK(reruns == in_flight);
  }

  TEST_CASE("a job in flight on the failing node runs again elsewhere") {
    auto healthy = run_with_faults("");
    const auto& spans = healthy.world.slots.at(1).spans;
    REQUIRE(spans.size() > 10);
    // Fail node 1 in the middle of its tenth job, so that job is in flight.
    double at = (spans[9].start_ms + spans[9].end_ms) / 2.0;
    uint64_t victim = 0;
    for (const auto& r : healthy.world.records)
      if (r.node == 1 && r.start_ms == spans[9].start_ms)
        victim = r.id;
    REQUIRE(victim != 0);
    auto run = run_with_faults("[[faults]]\nnode = 1\nat_ms = " + std::to_string(at) + "\n");
    const auto& r = run.world.records.at(victim - 1);
    CHECK(r.answers == 1);
    CHECK(r.runs == 2);
    CHECK(r.node != 1);
    CHECK(r.start_ms >= at);
    CHECK(sim::summarize(run).lost == 0);
  }

  TEST_CASE("with every node down, the remaining requests fail and are counted") {
    auto run = run_with_faults("[[faults]]\nnode = 0\nat_ms = 3000.0\n[[faults]]\nnode = 1\nat_ms = 3000.0\n"
                               "[[faults]]\nnode = 2\nat_ms = 6000.0\n");
    auto sum = sim::summarize(run);
    CHECK(sum.lost == 0);
    CHECK(sum.failed > 0);
    CHECK(sum.met + sum.missed + sum.failed == sum.requests);
    for (const auto& r : run.world.records)
      if (r.arrival_ms > 6000.0)
        CHECK(r.status == sim::request_status::failed);
  }
}
