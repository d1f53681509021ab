// Real-time mode: the same small scenario on real nodes (gateway, scheduler,
// executors on simulated devices, bridge between nodes) over inproc:// ZeroMQ
// and in virtual time. Both answer every request exactly once, and they agree
// on what does not depend on timing.
#include "scratch_dir.hpp"
#include "why.hpp"

#include "tessera/core/error.hpp"

#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/realtime_cluster.hpp"
#include "tessera/sim/sim_report.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace tessera;

namespace {

// Two nodes, light load and loose deadlines: every request should be met in
// either mode, whatever the real machine's timing. The slack (4-5 s, 200-250
// ms of wall time at the speed-up of 20) leaves room for the suites CTest
// runs beside this one on two cores; at 400-500 ms (20-25 ms of wall time) a
// busy machine missed some in real time only.
sim::scenario small_scenario() {
  auto s = sim::parse_scenario_text(R"(
    seed = 5
    speedup = 20.0
    [nodes]
    count = 2
    budget_mb = 100.0
    load_mb_per_s = 2000.0
    [models]
    families = 2
    variants = 2
    [workload]
    rate_per_s = 4.0
    requests = 40
    slack_min = 4000.0
    slack_max = 5000.0
  )");
  REQUIRE(s);
  return *s;
}

std::map<std::string, size_t> met_per_model(const sim::cluster_run& run) {
  std::map<std::string, size_t> out;
  for (const auto& r : run.world.records)
    if (r.status == sim::request_status::met)
      ++out[r.model];
  return out;
}

// The scenario's workload at level 1 and a real-time run of it.
struct real_run {
  std::vector<schedule_model> models;
  std::vector<sim::sim_request> requests;
  sim::cluster_run run;
};

real_run run_real(const sim::scenario& s, actors::queue_order policy, const std::string& scratch) {
  real_run out;
  out.models = sim::synthetic_models(s.models);
  auto requests = sim::make_workload(s, out.models, 1.0);
  REQUIRE(requests);
  out.requests = *requests;
  test::scratch_dir store{scratch};
  REQUIRE_FALSE(sim::write_synthetic_store(out.models, store.path()));
  auto real = sim::run_cluster_realtime(s, out.models, out.requests, policy, 1.0, store.path());
  REQUIRE_MESSAGE(real, test::why(real));
  out.run = std::move(*real);
  return out;
}

} // namespace

TEST_SUITE("realtime") {
  TEST_CASE("real-time and virtual-time runs answer every request and agree on the counts") {
    auto s = small_scenario();
    auto rr = run_real(s, actors::queue_order::reuse_aware, "sim-realtime-store");
    auto& models = rr.models;
    auto* requests = &rr.requests;
    auto* real = &rr.run;
    auto virt = sim::run_cluster(s, models, *requests, actors::queue_order::reuse_aware, 1.0);
    REQUIRE(virt);
    auto r = sim::summarize(*real);
    auto v = sim::summarize(*virt);
    for (const auto* run : {&*real, &*virt})
      for (const auto& rec : run->world.records)
        CHECK(rec.answers == 1);
    CHECK(r.requests == requests->size());
    CHECK(r.lost == 0);
    CHECK(v.lost == 0);
    CHECK(r.failed == 0);
    CHECK(v.met == requests->size()); // every deadline met: nothing here depends on timing
    CHECK(r.met == v.met);
    CHECK(met_per_model(*real) == met_per_model(*virt));
    // The simulated devices of the real nodes ran every request (some on the
    // peer, through the bridge) and loaded blocks for them.
    size_t runs = 0;
    for (const auto& sl : real->world.slots)
      runs += sl.spans.size();
    CHECK(runs == requests->size());
    CHECK(r.loaded_bytes > 0);
  }

  TEST_CASE("a worker node that fails in real time: its requests are rerouted or failed, and counted") {
    auto s = small_scenario();
    s.workload.rate_per_s = 20.0;
    s.faults.push_back({1, 1000.0});
    auto rr = run_real(s, actors::queue_order::edf, "sim-realtime-fault");
    auto* real = &rr.run;
    auto sum = sim::summarize(*real);
    CHECK(sum.lost == 0);
    CHECK(sum.met + sum.missed + sum.failed == sum.requests);
    // Node 1's executor worked before it failed (at 20 requests a second,
    // more arrive than node 0's one executor keeps up with), and began
    // nothing once its node had stopped: a run it had begun while the node
    // shut down may end then.
    const auto& slot = real->world.slots.at(1);
    REQUIRE_FALSE(slot.spans.empty());
    CHECK(slot.stopped_ms >= 1000.0);
    for (const auto& span : slot.spans)
      CHECK(span.start_ms <= slot.stopped_ms);
  }

  TEST_CASE("calibration measures each model's service time on the nodes, outside the timed run") {
    auto s = small_scenario();
    auto models = sim::synthetic_models(s.models);
    auto requests = sim::make_workload(s, models, 1.0);
    REQUIRE(requests);
    test::scratch_dir store{"sim-realtime-calibrate"};
    REQUIRE_FALSE(sim::write_synthetic_store(models, store.path()));
    sim::service_times measured;
    auto run =
        sim::run_cluster_realtime(s, models, *requests, actors::queue_order::reuse_aware, 1.0,
                                  store.path(), {}, sim::realtime_backend::simulated, &measured);
    REQUIRE_MESSAGE(run, test::why(run));
    REQUIRE(measured.size() == models.size());
    for (const auto& m : models) {
      // The simulated device sleeps for the model's compute, sped up; the
      // service time adds the hops through gateway, scheduler and bridge.
      double device_ms = model_exec_ms(m) / s.speedup;
      CAPTURE(m.name);
      CHECK(measured.at(m.name) >= 0.9 * device_ms);
      CHECK(measured.at(m.name) < device_ms + 250.0);
    }
    // The timed run counts its own requests only.
    size_t runs = 0;
    for (const auto& sl : run->world.slots)
      runs += sl.spans.size();
    CHECK(runs == requests->size());
    for (const auto& rec : run->world.records)
      CHECK(rec.answers == 1);
  }

  TEST_CASE("node 0 cannot fail in real-time mode") {
    auto s = small_scenario();
    s.mode = sim::run_mode::real_time;
    s.faults.push_back({0, 100.0});
    auto models = sim::synthetic_models(s.models);
    auto requests = sim::make_workload(s, models, 1.0);
    REQUIRE(requests);
    auto run = sim::run_cluster_realtime(s, models, *requests, actors::queue_order::edf, 1.0, "unused");
    CHECK_FALSE(run);
  }
}
