#include "tessera/actors/scheduler.hpp"

#include "tessera/core/error.hpp"

#include <caf/all.hpp>

#include <deque>
#include <set>

namespace tessera::actors {

namespace {

struct pending {
  infer_job job;
  caf::typed_response_promise<infer_outcome> promise;
};

struct slot {
  executor_actor handle;
  bool busy = false;
  std::set<std::string> models; ///< names it ran last (it may have swapped some out)
};

struct scheduler_data {
  std::vector<slot> slots;
  std::deque<pending> queue;

  static inline const char* name = "scheduler";

  // Answers the jobs that are past their deadline.
  void expire(steady_time now) {
    for (auto i = queue.begin(); i != queue.end();) {
      if (now > i->job.deadline) {
        i->promise.deliver(make_error(ec::deadline_exceeded,
                                      "model \"" + i->job.model + "\": the deadline passed in the queue"));
        i = queue.erase(i);
      } else {
        ++i;
      }
    }
  }

  // The job for an idle executor: highest priority first; within it, a model
  // the executor holds, then the earliest deadline, then the oldest.
  std::deque<pending>::iterator pick(const slot& s) {
    auto best = queue.end();
    auto better = [&](const pending& a, const pending& b) {
      if (a.job.priority != b.job.priority)
        return a.job.priority > b.job.priority;
      bool ra = s.models.count(a.job.model) > 0;
      bool rb = s.models.count(b.job.model) > 0;
      if (ra != rb)
        return ra;
      if (a.job.deadline != b.job.deadline)
        return a.job.deadline < b.job.deadline;
      return a.job.arrival < b.job.arrival;
    };
    for (auto i = queue.begin(); i != queue.end(); ++i)
      if (best == queue.end() || better(*i, *best))
        best = i;
    return best;
  }
};

using self_ptr = scheduler_actor::stateful_pointer<scheduler_data>;

void dispatch(self_ptr self) {
  auto& st = self->state;
  st.expire(std::chrono::steady_clock::now());
  for (size_t i = 0; i < st.slots.size() && !st.queue.empty(); ++i) {
    if (st.slots[i].busy)
      continue;
    auto it = st.pick(st.slots[i]);
    auto p = std::move(*it);
    st.queue.erase(it);
    st.slots[i].busy = true;
    auto promise = p.promise;
    auto model = p.job.model;
    self->request(st.slots[i].handle, caf::infinite, run_atom::value, std::move(p.job))
      .then(
        [self, i, promise, model](infer_outcome& out) mutable {
          auto& s = self->state.slots[i];
          s.busy = false;
          s.models.insert(model);
          promise.deliver(std::move(out));
          dispatch(self);
        },
        [self, i, promise](caf::error& err) mutable {
          self->state.slots[i].busy = false;
          promise.deliver(std::move(err));
          dispatch(self);
        });
  }
}

scheduler_actor::behavior_type scheduler_impl(self_ptr self, std::vector<executor_actor> executors) {
  for (auto& e : executors)
    self->state.slots.push_back(slot{std::move(e), false, {}});
  return {
    [self](run_atom, infer_job& job) -> caf::typed_response_promise<infer_outcome> {
      auto promise = self->make_response_promise<infer_outcome>();
      self->state.queue.push_back(pending{std::move(job), promise});
      dispatch(self);
      return promise;
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

scheduler_actor spawn_scheduler(caf::actor_system& sys, std::vector<executor_actor> executors) {
  return sys.spawn(scheduler_impl, std::move(executors));
}

} // namespace tessera::actors
