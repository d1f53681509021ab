#include "tessera/sim/virtual_cluster.hpp"

#include "tessera/core/error.hpp"
#include "tessera/sim/slot_executor.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>

namespace tessera::sim {

namespace {

constexpr double never = std::numeric_limits<double>::infinity();

// The client side: forwards each job to the scheduler and records how it was
// answered, against its virtual deadline.
caf::behavior client(caf::event_based_actor* self, actors::scheduler_actor scheduler,
                     std::shared_ptr<cluster_world> world) {
  return {[=](actors::run_atom, actors::infer_job& j) {
    auto ticket = j.ticket;
    self->request(scheduler, caf::infinite, actors::run_atom::value, std::move(j))
      .then(
        [=](const actors::infer_outcome&) {
          auto& r = world->records[ticket - 1];
          ++r.answers;
          r.status = r.end_ms <= r.deadline_ms ? request_status::met : request_status::missed;
        },
        [=](const caf::error& err) {
          auto& r = world->records[ticket - 1];
          ++r.answers;
          r.status = code_of(err) == ec::deadline_exceeded ? request_status::missed : request_status::failed;
        });
  }};
}

} // namespace

caf::expected<cluster_run> run_cluster(const scenario& s, const std::vector<schedule_model>& models,
                                       const std::vector<sim_request>& requests, actors::queue_order policy,
                                       double level, const progress_fn& progress) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  // A request the actors never answer is reported as lost, not waited for.
  sys.await_actors_before_shutdown(false);
  auto& coordinator = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  auto world = std::make_shared<cluster_world>(make_world(s, models, requests));
  std::vector<slot_executor_actor> slots;
  for (size_t i = 0; i < world->slots.size(); ++i)
    slots.push_back(spawn_slot_executor(sys, world, i));
  // The scheduler reads the virtual clock, so its queue expiry, aging and
  // re-queueing judge virtual deadlines, as they judge real ones in production.
  auto at = [](double ms) { return actors::steady_time{} + std::chrono::microseconds(std::llround(ms * 1000.0)); };
  actors::scheduler_options opts;
  opts.order = policy;
  opts.clock = [world, at] { return at(world->now_ms); };
  // A job that arrives with every node down is refused at once, as before:
  // a wait for an executor to come up is timed by a delayed message, which
  // the simulator's event loop does not deliver in virtual time.
  opts.wait_for_executor = std::chrono::milliseconds(0);
  // Placement reads the models' blocks (shared blocks count where resident)
  // and the device's load bandwidth. Each slot has its own simulated device,
  // so each is a node of its own (the default).
  auto units = std::make_shared<std::map<std::string, placement_unit>>();
  for (const auto& m : models)
    (*units)[m.name] = placement_unit_of(m);
  opts.placement.catalog = units;
  opts.placement.policy.load_bytes_per_ms = slot_device(s).load_bytes_per_ms;
  opts.placement.policy.review_interval_ms = s.nodes.review_interval_ms;
  opts.placement.policy.max_replicas = s.nodes.max_replicas;
  // Dynamic placement: one scheduler over every executor. Static: one per
  // node over its own executors, and each model goes to its home node.
  bool fixed = s.nodes.placement == placement_kind::fixed;
  std::vector<actors::scheduler_actor> schedulers;
  std::vector<std::pair<size_t, uint32_t>> slot_in; // slot -> (scheduler, index there)
  for (uint32_t n = 0; n < (fixed ? s.nodes.count : 1u); ++n) {
    std::vector<actors::executor_actor> executors;
    for (size_t i = 0; i < slots.size(); ++i)
      if (!fixed || world->slots[i].node == n) {
        slot_in.emplace_back(schedulers.size(), static_cast<uint32_t>(executors.size()));
        executors.push_back(caf::actor_cast<actors::executor_actor>(slots[i]));
      }
    schedulers.push_back(actors::spawn_scheduler(sys, executors, {}, opts));
  }
  std::map<std::string, size_t> home;
  for (size_t m = 0; m < models.size(); ++m)
    home[models[m].name] = fixed ? m % s.nodes.count : 0;
  std::vector<caf::actor> forward;
  for (const auto& sc : schedulers)
    forward.push_back(sys.spawn(client, sc, world));
  // Requests enter when their input is on the node (after any upload).
  auto by_ready = ready_order(requests);
  auto faults = s.faults;
  std::stable_sort(faults.begin(), faults.end(), [](const auto& a, const auto& b) { return a.at_ms < b.at_ms; });
  cluster_run out;
  out.policy = policy;
  out.level = level;
  size_t next = 0, next_fault = 0, answered_seen = 0;
  uint64_t since_progress = 0;
  for (;;) {
    while (coordinator.try_run_once()) {
      // run every actor until nothing is left to do at this instant
    }
    double t_arrival = next < requests.size() ? requests[by_ready[next]].ready_ms : never;
    double t_fault = next_fault < faults.size() ? faults[next_fault].at_ms : never;
    // A failed slot's job is answered at once (tick), so it leaves `due`.
    double t_done = world->due.empty() ? never : world->due.begin()->first;
    double t = std::min({t_arrival, t_fault, t_done});
    if (t == never)
      break;
    world->now_ms = std::max(world->now_ms, t);
    ++out.events;
    // At one instant: completions first, then faults, then arrivals.
    if (t_done <= t) {
      for (auto i = world->due.begin(); i != world->due.end() && i->first <= t; ++i)
        caf::anon_send(slots[i->second], actors::tick_atom::value);
    } else if (t_fault <= t) {
      auto node = faults[next_fault++].node;
      for (size_t i = 0; i < world->slots.size(); ++i) {
        auto& sl = world->slots[i];
        if (sl.node != node || sl.failed)
          continue;
        sl.failed = true;
        if (!sl.spans.empty() && sl.spans.back().end_ms > t)
          sl.spans.back().end_ms = std::max(sl.spans.back().start_ms, t);
        caf::anon_send(slots[i], actors::tick_atom::value);
      }
      // The executor's failure reaches the scheduler before the peer-down
      // notice (as when a bridge notices missed heartbeats later). In the other
      // order a job re-queued after the last slot went down would wait forever
      // (the scheduler fails its queue only on peer-down or a new job).
      while (coordinator.try_run_once()) {
        // deliver the failures first
      }
      for (size_t i = 0; i < world->slots.size(); ++i)
        if (world->slots[i].node == node)
          caf::anon_send(schedulers[slot_in[i].first], actors::peer_atom::value, slot_in[i].second, false);
    } else {
      while (next < requests.size() && requests[by_ready[next]].ready_ms <= t) {
        const auto& r = requests[by_ready[next]];
        actors::infer_job j;
        j.ticket = by_ready[next] + 1;
        j.model = r.model;
        j.arrival = at(r.arrival_ms);
        j.deadline = at(r.deadline_ms);
        caf::anon_send(forward[home[r.model]], actors::run_atom::value, std::move(j));
        ++next;
      }
    }
    if (progress && ++since_progress >= 20000) {
      since_progress = 0;
      answered_seen = static_cast<size_t>(std::count_if(world->records.begin(), world->records.end(),
                                                        [](const auto& r) { return r.answers > 0; }));
      progress(answered_seen, requests.size());
    }
  }
  coordinator.run();
  // Whatever is still unanswered (none, when the actors are sound) is lost.
  out.world = *world;
  return out;
}

} // namespace tessera::sim
