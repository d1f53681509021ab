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
  bool up = true;
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
    if (st.slots[i].busy || !st.slots[i].up)
      continue;
    auto it = st.pick(st.slots[i]);
    auto p = std::move(*it);
    st.queue.erase(it);
    st.slots[i].busy = true;
    auto promise = p.promise;
    auto model = p.job.model;
    auto retry = p.job; // shares the tensors; used if the executor turns out to be gone
    self->request(st.slots[i].handle, caf::infinite, run_atom::value, std::move(p.job))
      .then(
        [self, i, promise, model](infer_outcome& out) mutable {
          auto& s = self->state.slots[i];
          s.busy = false;
          s.models.insert(model);
          promise.deliver(std::move(out));
          dispatch(self);
        },
        [self, i, promise, retry](caf::error& err) mutable {
          auto& st = self->state;
          st.slots[i].busy = false;
          // A job whose executor went away runs elsewhere while it can.
          bool gone = code_of(err) == ec::unavailable;
          if (gone) { // until the bridge sees it again
            st.slots[i].up = false;
            st.slots[i].models.clear();
          }
          if (gone && ++retry.attempts < st.slots.size()
              && std::chrono::steady_clock::now() < retry.deadline) {
            st.queue.push_front(pending{std::move(retry), promise});
          } else {
            promise.deliver(std::move(err));
          }
          dispatch(self);
        });
  }
}

scheduler_actor::behavior_type scheduler_impl(self_ptr self, std::vector<executor_actor> executors,
                                              std::vector<bool> up) {
  for (size_t i = 0; i < executors.size(); ++i)
    self->state.slots.push_back(slot{std::move(executors[i]), false, up.empty() || up[i], {}});
  return {
    [self](run_atom, infer_job& job) -> caf::typed_response_promise<infer_outcome> {
      auto promise = self->make_response_promise<infer_outcome>();
      auto& slots = self->state.slots;
      if (std::none_of(slots.begin(), slots.end(), [](const slot& s) { return s.up; })) {
        promise.deliver(make_error(ec::unavailable, "no executor is up"));
        return promise;
      }
      self->state.queue.push_back(pending{std::move(job), promise});
      dispatch(self);
      return promise;
    },
    [self](peer_atom, uint32_t slot_index, bool up) {
      auto& st = self->state;
      if (slot_index < st.slots.size()) {
        st.slots[slot_index].up = up;
        if (!up)
          st.slots[slot_index].models.clear();
      }
      // With no executor up, queued jobs cannot run: answer them now.
      bool any = std::any_of(st.slots.begin(), st.slots.end(), [](const slot& s) { return s.up; });
      if (!any)
        for (auto& p : st.queue)
          p.promise.deliver(make_error(ec::unavailable, "no executor is up"));
      if (!any)
        st.queue.clear();
      dispatch(self);
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
                                std::vector<bool> up) {
  return sys.spawn(scheduler_impl, std::move(executors), std::move(up));
}

} // namespace tessera::actors
