// What the scheduler's actor tests share: an actor system under CAF's
// deterministic test coordinator, fake executors that record what they ran,
// and a client that records every reply.
#pragma once

#include "tessera/actors/scheduler.hpp"
#include "tessera/core/error.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <memory>
#include <string>
#include <vector>

namespace {

using namespace tessera;
using namespace tessera::actors;

// A fake executor's state: its name, nothing held, nothing served.
inline executor_state idle_state(const std::string& name) {
  executor_state s;
  s.name = name;
  return s;
}

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
      [=](status_atom) -> caf::result<executor_state> { return idle_state(name); },
      [=](pressure_atom, pressure_level) {},
      [=](catalog_atom, const catalog_ptr&) {},
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
                  [out](const caf::error& e) {
                    out->push_back(std::string{"error:"} + to_string(code_of(e)));
                  });
    });
  }

  ~rig() {
    // Pending delayed messages (a batch's wait, a hold-off) keep their
    // receivers alive: they are delivered, so the system can shut down.
    sched->run();
    sched->trigger_timeouts();
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
