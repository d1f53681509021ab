// The scheduler actor under CAF's deterministic test coordinator: messages
// run one at a time, in a known order, with fake executors that record what
// they are given. This pins down placement, reuse-aware order, expiry, and
// rerouting when an executor turns out to be gone.
#include "tessera/actors/scheduler.hpp"
#include "tessera/core/error.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <doctest/doctest.h>

using namespace tessera;
using namespace tessera::actors;

namespace {

struct fake_log {
  std::vector<std::string> ran; ///< "executor:model", in the order jobs ran
};

// An executor that answers at once; with `gone`, it fails every job as a
// vanished peer would.
executor_actor::behavior_type fake_executor(executor_actor::pointer self, std::string name,
                                            std::shared_ptr<fake_log> log, bool gone) {
  return {
    [=](run_atom, const infer_job& job) -> caf::result<infer_outcome> {
      if (gone)
        return make_error(ec::unavailable, name + " is down");
      log->ran.push_back(name + ":" + job.model);
      infer_outcome out;
      out.model = job.model;
      out.executor = name;
      return out;
    },
    [=](load_atom, const std::string& model, uint32_t) -> caf::result<load_outcome> {
      return load_outcome{model, 1, 0, 0};
    },
    [=](unload_atom, const std::string&, uint32_t) -> caf::result<bool> { return true; },
    [=](status_atom) -> caf::result<executor_state> { return executor_state{name, {}, 0, 0}; },
    [=](pressure_atom, pressure_level) {},
  };
}

struct rig {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::shared_ptr<fake_log> log = std::make_shared<fake_log>();
  std::shared_ptr<std::vector<std::string>> replies = std::make_shared<std::vector<std::string>>();

  rig() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
  }

  executor_actor executor(const std::string& name, bool gone = false) {
    return sys->spawn(fake_executor, name, log, gone);
  }

  // Sends the jobs in order from one client actor that records each reply.
  void submit(const scheduler_actor& s, std::vector<infer_job> jobs) {
    auto out = replies;
    sys->spawn([s, jobs, out](caf::event_based_actor* self) {
      for (const auto& j : jobs)
        self->request(s, caf::infinite, run_atom::value, j)
          .then([out](const infer_outcome& r) { out->push_back(r.executor + ":" + r.model); },
                [out](const caf::error& e) { out->push_back(std::string{"error:"} + to_string(code_of(e))); });
    });
  }

  ~rig() {
    sched->run();
  }
};

infer_job job(const std::string& model, steady_time deadline = steady_time::max()) {
  infer_job j;
  j.model = model;
  j.arrival = std::chrono::steady_clock::now();
  j.deadline = deadline;
  return j;
}

} // namespace

TEST_SUITE("scheduler") {
  TEST_CASE("an idle executor takes the queued job whose model it already holds first") {
    rig r;
    auto e = r.executor("e0");
    auto s = spawn_scheduler(*r.sys, {e});
    // B runs at once; while it runs, A, B, A, B queue. The executor then holds B.
    r.submit(s, {job("B"), job("A"), job("B"), job("A"), job("B")});
    r.sched->run();
    REQUIRE(r.log->ran.size() == 5);
    CHECK(r.log->ran == std::vector<std::string>{"e0:B", "e0:B", "e0:B", "e0:A", "e0:A"});
    CHECK(r.replies->size() == 5);
  }

  TEST_CASE("a job past its deadline is answered without reaching an executor") {
    rig r;
    auto e = r.executor("e0");
    auto s = spawn_scheduler(*r.sys, {e});
    auto past = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    r.submit(s, {job("A", past), job("B")});
    r.sched->run();
    CHECK(r.log->ran == std::vector<std::string>{"e0:B"});
    REQUIRE(r.replies->size() == 2);
    CHECK(std::count(r.replies->begin(), r.replies->end(), "error:deadline_exceeded") == 1);
  }

  TEST_CASE("a job whose executor is gone runs on another; a down executor gets no work") {
    rig r;
    auto gone = r.executor("gone", true);
    auto alive = r.executor("alive");
    auto s = spawn_scheduler(*r.sys, {gone, alive});
    r.submit(s, {job("A"), job("A"), job("A")});
    r.sched->run();
    CHECK(r.log->ran.size() == 3);
    for (const auto& x : *r.replies)
      CHECK(x == "alive:A");
    // Marked down explicitly (as the bridge does), an executor is skipped.
    rig r2;
    auto a = r2.executor("a");
    auto b = r2.executor("b");
    auto s2 = spawn_scheduler(*r2.sys, {a, b});
    caf::anon_send(s2, peer_atom::value, uint32_t{0}, false);
    r2.sched->run();
    r2.submit(s2, {job("X"), job("Y")});
    r2.sched->run();
    CHECK(r2.log->ran == std::vector<std::string>{"b:X", "b:Y"});
  }

  TEST_CASE("with no executor up, jobs are refused with unavailable at once") {
    rig r;
    auto a = r.executor("a");
    auto s = spawn_scheduler(*r.sys, {a}, {false});
    r.submit(s, {job("X")});
    r.sched->run();
    CHECK(r.log->ran.empty());
    CHECK(*r.replies == std::vector<std::string>{"error:unavailable"});
  }
}
