#include "tessera/actors/scheduler.hpp"

#include "fusion_advisor.hpp"
#include "scheduler_admission.hpp"
#include "scheduler_jobs.hpp"
#include "scheduler_placement.hpp"
#include "scheduler_queue.hpp"
#include "tessera/core/batching.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/fusion_pass.hpp"

#include <caf/all.hpp>

namespace tessera::actors {

namespace {

/// A job that failed on executor `avoid` with `first`, to run on another.
struct second_try {
  pending job;
  size_t avoid = 0;
  caf::error first;
};

struct scheduler_data {
  std::vector<slot> slots;
  std::unique_ptr<job_queue> queue;
  std::unique_ptr<placement_table> placement;
  steady_time next_wake = steady_time::max();
  std::function<steady_time()> clock; ///< scheduler_options::clock, or steady_clock
  std::chrono::milliseconds hold_off{1000};
  bool shed_late = true;   ///< scheduler_options::shed_late
  std::chrono::milliseconds wait_for_executor{5000}; ///< scheduler_options::wait_for_executor
  /// While no executor is up and jobs wait for one: when they are given up.
  steady_time give_up_at = steady_time::max();
  /// Jobs that failed on one executor's copy of a blob, waiting for another
  /// executor to run them once more (run before the queue, oldest first).
  std::vector<second_try> second_tries;
  uint32_t batch_rows = 1; ///< scheduler_options::max_batch_rows
  /// Co-request statistics for the grouping policy (scheduler_options::auto_fuse).
  auto_fuse_options auto_fuse;
  std::unique_ptr<co_request_counter> co_requests;
  uint64_t counted = 0;
  steady_time started{};
  caf::actor advisor;

  /// Counts a request for the grouping policy, and hands the advisor the
  /// statistics every auto_fuse.every_requests requests.
  void note_request(const infer_job& job) {
    if (co_requests == nullptr || job.group)
      return;
    auto at_ms = std::chrono::duration<double, std::milli>(now() - started).count();
    co_requests->record(job.model + ":" + std::to_string(job.version), at_ms);
    if (++counted % std::max<uint64_t>(1, auto_fuse.every_requests) == 0)
      caf::anon_send(advisor, fuse_atom::value,
                     std::make_shared<const co_request_counter>(*co_requests));
  }

  steady_time now() const {
    return clock ? clock() : std::chrono::steady_clock::now();
  }

  /// The clock in milliseconds, for placement (only differences count).
  double now_ms() const {
    return std::chrono::duration<double, std::milli>(now().time_since_epoch()).count();
  }

  /// Forgets what an executor held: it is gone, until it reports again.
  void forget(size_t i) {
    slots[i].models.clear();
    slots[i].recent.clear();
    slots[i].groups.clear();
    placement->forget_report(i);
  }

  static inline const char* name = "scheduler";
};

using self_ptr = scheduler_actor::stateful_pointer<scheduler_data>;

bool any_up(const std::vector<slot>& slots) {
  return std::any_of(slots.begin(), slots.end(), [](const slot& s) { return s.up(); });
}

void dispatch(self_ptr self);

// The unit that runs taken work: its group, or its lead job's unit.
const std::string& unit_of(const taken& work, const placement_table& placement) {
  return work.group ? work.group->name : placement.unit_of(work.members.front().job);
}

void run_on(self_ptr self, size_t i, taken work) {
  auto& st = self->state;
  auto& members = work.members;
  auto unit = unit_of(work, *st.placement);
  st.placement->started(unit, i, st.now_ms());
  auto job = work.group ? combine_pass(*work.group, members) : combine(members);
  if (!job) {
    for (auto& m : members)
      m.promise.deliver(job.error());
    return;
  }
  st.slots[i].busy = true;
  st.slots[i].busy_since_ms = st.now_ms();
  st.slots[i].expected_ms =
      st.placement->expected_ms(unit) * static_cast<double>(work.group ? 1 : members.size());
  auto shared = std::make_shared<std::vector<pending>>(std::move(members));
  auto model = job->model;
  auto group = work.group;
  auto words = st.slots[i].bridge_words;
  self->request(st.slots[i].handle, caf::infinite, run_atom::value, std::move(*job))
      .then(
          [self, i, shared, model, group, unit](infer_outcome& out) {
            auto& s = self->state.slots[i];
            s.busy = false;
            // What the executor holds now, when it says; otherwise what it ran last.
            auto before = s.models;
            auto groups_before = s.groups.size();
            if (!out.held.empty()) {
              s.models = std::set<std::string>(out.held.begin(), out.held.end());
              s.groups = out.groups;
            } else {
              s.remember(model);
            }
            bool reported = self->state.placement->resident_reported(i, out.resident_blobs);
            self->state.placement->loaded(out.loaded_bytes, out.load_ms);
            bool groups_changed = s.groups.size() != groups_before;
            self->state.placement->finished(unit, i, out.run_ms, out.free_bytes,
                                            reported || s.models != before || groups_changed,
                                            groups_changed);
            if (group)
              deliver_pass(*group, *shared, out);
            else
              deliver_split(*shared, out);
            dispatch(self);
          },
          [self, i, shared, words](caf::error& err) {
            auto& st = self->state;
            auto& s = st.slots[i];
            s.busy = false;
            // Jobs whose executor went away run elsewhere while they can.
            bool gone = code_of(err) == ec::unavailable;
            // The executor is held off for a while, unless the bridge has spoken
            // since the job left: then this failure belongs to a life that the
            // bridge has already ended, and its word stands.
            if (gone && s.up() && s.bridge_words == words) {
              s.held_off = true;
              st.forget(i);
              self->delayed_send(self, st.hold_off, tick_atom::value, static_cast<uint32_t>(i),
                                 ++s.holds);
            }
            auto now = st.now();
            bool some_up = any_up(st.slots);
            // A job that failed on this executor's copy of a blob, or in its
            // backend, runs once more on another executor, the first that is
            // idle: another node's store may hold a good copy. Its second
            // failure is its answer.
            bool bad_copy = code_of(err) == ec::corrupt_blob || code_of(err) == ec::backend_error;
            if (bad_copy && shared->size() == 1) {
              auto& m = shared->front();
              bool other_up = std::any_of(st.slots.begin(), st.slots.end(),
                                          [&](const slot& o) { return &o != &s && o.up(); });
              if (m.job.attempts == 0 && other_up && (now < m.job.deadline || m.job.best_effort)) {
                ++m.job.attempts;
                st.second_tries.push_back({std::move(m), i, err});
                dispatch(self);
                return;
              }
            }
            for (auto& m : *shared) {
              // Re-queued only while some executor is up: otherwise nothing would
              // ever take it, and every request must be answered.
              if (gone && some_up && ++m.job.attempts < st.slots.size() &&
                  (now < m.job.deadline || m.job.best_effort)) {
                auto unit = st.placement->unit_id(m.job);
                st.queue->push_front(std::move(m), unit);
              } else {
                m.promise.deliver(err);
              }
            }
            if (!some_up)
              st.queue->fail_all(make_error(ec::unavailable, "no executor is up"));
            dispatch(self);
          });
}

// Runs each job waiting for a second try on an idle executor other than the
// one it failed on, on another node when one is up there: executors of one
// node read one store, so another node's may hold a good copy where this
// one's does not. One that is past its deadline, or that no other executor
// is up to run, is answered with its first failure.
void run_second_tries(self_ptr self, steady_time now) {
  auto& st = self->state;
  auto waiting = std::move(st.second_tries);
  st.second_tries.clear();
  for (auto& t : waiting) {
    auto node = st.placement->node_of(t.avoid);
    auto other = [&](size_t k) { return k != t.avoid && st.slots[k].up(); };
    auto elsewhere = [&](size_t k) { return other(k) && st.placement->node_of(k) != node; };
    std::vector<size_t> candidates;
    for (size_t k = 0; k < st.slots.size(); ++k)
      if (elsewhere(k))
        candidates.push_back(k);
    if (candidates.empty())
      for (size_t k = 0; k < st.slots.size(); ++k)
        if (other(k))
          candidates.push_back(k);
    bool late = now >= t.job.job.deadline && !t.job.job.best_effort;
    if (late || candidates.empty()) {
      t.job.promise.deliver(t.first);
      continue;
    }
    auto idle = std::find_if(candidates.begin(), candidates.end(),
                             [&](size_t k) { return !st.slots[k].busy; });
    if (idle == candidates.end()) {
      st.second_tries.push_back(std::move(t));
      continue;
    }
    taken again;
    again.members.push_back(std::move(t.job));
    run_on(self, *idle, std::move(again));
  }
}

void dispatch(self_ptr self) {
  auto& st = self->state;
  auto now = st.now();
  st.queue->expire(now);
  run_second_tries(self, now);
  if (!any_up(st.slots)) {
    // Jobs that arrived with no executor up wait for one, until give_up_at.
    if (now >= st.give_up_at) {
      st.queue->fail_all(
          make_error(ec::unavailable, "no executor came up within " +
                                          std::to_string(st.wait_for_executor.count()) + " ms"));
      st.give_up_at = steady_time::max();
    }
    return;
  }
  st.give_up_at = steady_time::max();
  auto& placement = *st.placement;
  if (placement.refresh_groups(st.slots))
    st.queue->regroup([&placement](const infer_job& j) { return placement.unit_id(j); });
  // No wake-up for a review that falls due while jobs wait: each delayed
  // message wakes CAF's clock thread, which cost a third of the throughput of
  // bench rpc; the next completion or arrival reviews, as it always did.
  placement.review(st.slots, *st.queue, now, st.now_ms());
  for (auto i : placement.executors_for(st.queue->units_waiting(), st.slots.size())) {
    if (st.queue->empty())
      break;
    if (st.slots[i].busy || !st.slots[i].up())
      continue;
    // With placement, an executor looks only at the lines of its units.
    const auto* units = placement.enabled() ? &placement.units_on(i) : nullptr;
    auto wake = steady_time::max();
    auto work = st.queue->take(st.slots[i], now, wake, units);
    // Jobs too late to finish if they started now are answered, not run: the
    // executor takes the next ones (decision 44).
    while (st.shed_late && !work.members.empty()) {
      if (shed_late(work, placement.service_ms(unit_of(work, placement)), now) == 0 ||
          !work.members.empty())
        break;
      if (st.queue->empty())
        break;
      wake = steady_time::max();
      work = st.queue->take(st.slots[i], now, wake, units);
    }
    if (work.members.empty()) {
      // A batch is still filling: look again when its wait is over.
      if (wake != steady_time::max() && wake < st.next_wake) {
        st.next_wake = wake;
        self->delayed_send(self, wake - now, tick_atom::value);
      }
      continue;
    }
    run_on(self, i, std::move(work));
  }
}

scheduler_actor::behavior_type scheduler_impl(self_ptr self, std::vector<executor_actor> executors,
                                              std::vector<bool> up, scheduler_options opts) {
  for (size_t i = 0; i < executors.size(); ++i) {
    slot s;
    s.handle = std::move(executors[i]);
    s.reachable = up.empty() || up[i];
    self->state.slots.push_back(std::move(s));
  }
  self->state.clock = opts.clock;
  self->state.hold_off = opts.hold_off;
  self->state.shed_late = opts.shed_late;
  self->state.wait_for_executor = opts.wait_for_executor;
  self->state.batch_rows = opts.max_batch_rows;
  self->state.placement = std::make_unique<placement_table>(opts);
  if (opts.auto_fuse.enabled && opts.auto_fuse.store != nullptr) {
    auto& st = self->state;
    st.auto_fuse = opts.auto_fuse;
    st.co_requests = std::make_unique<co_request_counter>(opts.auto_fuse.window_ms);
    st.started = st.now();
    st.advisor =
        spawn_fusion_advisor(self->system(), *opts.auto_fuse.store, opts.auto_fuse.grouping);
    self->link_to(st.advisor);
  }
  self->state.queue = std::make_unique<job_queue>(std::move(opts));
  return {
      [self](run_atom, infer_job& job) -> caf::typed_response_promise<infer_outcome> {
        auto promise = self->make_response_promise<infer_outcome>();
        auto& st = self->state;
        bool up = any_up(st.slots);
        if (!up && (st.slots.empty() || st.wait_for_executor.count() <= 0)) {
          promise.deliver(make_error(ec::unavailable, "no executor is up"));
          return promise;
        }
        auto unit = st.placement->unit_id(job);
        if (!up) {
          // Executors that may come up (peers not yet answering): wait for
          // one, within the job's deadline and wait_for_executor.
          if (st.give_up_at == steady_time::max()) {
            st.give_up_at = st.now() + st.wait_for_executor;
            self->delayed_send(self, st.wait_for_executor, tick_atom::value);
          }
          st.queue->push(pending{std::move(job), promise}, unit);
          return promise;
        }
        st.note_request(job);
        if (st.shed_late) {
          auto executors_up = static_cast<size_t>(std::count_if(
              st.slots.begin(), st.slots.end(), [](const slot& s) { return s.up(); }));
          if (auto err = refuse_at_arrival(job, unit, *st.placement, *st.queue, executors_up,
                                           st.batch_rows, st.now())) {
            promise.deliver(err);
            return promise;
          }
        }
        st.queue->push(pending{std::move(job), promise}, unit);
        dispatch(self);
        return promise;
      },
      [self](load_atom, const std::string& model,
             uint32_t version) -> caf::typed_response_promise<load_outcome> {
        auto promise = self->make_response_promise<load_outcome>();
        auto& st = self->state;
        infer_job probe;
        probe.model = model;
        probe.version = version;
        auto unit = st.placement->unit_id(probe);
        auto to = st.placement->place_for_load(unit, st.slots, *st.queue, st.now_ms());
        if (!to) {
          promise.deliver(make_error(ec::unavailable, "no executor is up"));
          return promise;
        }
        self->request(st.slots[*to].handle, caf::infinite, load_atom::value, model, version)
            .then(
                [self, i = *to, model, promise](load_outcome& out) mutable {
                  self->state.slots[i].remember(model);
                  self->state.placement->holdings_changed(i);
                  promise.deliver(std::move(out));
                },
                [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
        return promise;
      },
      [self](tick_atom) {
        self->state.next_wake = steady_time::max();
        dispatch(self);
      },
      [self](tick_atom, uint32_t slot_index, uint64_t hold) {
        auto& st = self->state;
        if (slot_index >= st.slots.size())
          return;
        auto& s = st.slots[slot_index];
        if (!s.held_off || s.holds != hold)
          return; // the bridge has spoken since, or a later hold-off runs
        s.held_off = false;
        dispatch(self);
      },
      [self](peer_atom, uint32_t slot_index, bool is_up) {
        auto& st = self->state;
        if (slot_index < st.slots.size()) {
          auto& s = st.slots[slot_index];
          s.reachable = is_up;
          s.held_off = false;
          ++s.bridge_words;
          if (!is_up)
            st.forget(slot_index);
        }
        // With no executor up, queued jobs cannot run: answer them now.
        if (!any_up(st.slots))
          st.queue->fail_all(make_error(ec::unavailable, "no executor is up"));
        dispatch(self);
      },
      [self](status_atom, queue_atom) -> uint64_t { return self->state.queue->size(); },
      [self](status_atom, place_atom) -> placement_status {
        return self->state.placement->status();
      },
      [self](status_atom) -> caf::typed_response_promise<std::vector<executor_state>> {
        auto rp = self->make_response_promise<std::vector<executor_state>>();
        auto collected = std::make_shared<std::vector<executor_state>>();
        auto expected = self->state.slots.size();
        if (expected == 0)
          rp.deliver(std::vector<executor_state>{});
        for (auto& s : self->state.slots)
          self->request(s.handle, std::chrono::seconds(10), status_atom::value)
              .then(
                  [rp, collected, expected](executor_state& st) mutable {
                    collected->push_back(std::move(st));
                    if (collected->size() == expected)
                      rp.deliver(*collected);
                  },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
  };
}

} // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, std::vector<executor_actor> executors,
                                std::vector<bool> up, scheduler_options opts) {
  return sys.spawn(scheduler_impl, std::move(executors), std::move(up), std::move(opts));
}

} // namespace tessera::actors
