// The scheduler's queue and the choices it makes: which job an idle executor
// runs next, and which other jobs join it in one batch, or in one pass of a
// fused group the executor holds. Plain data, no actor, so the policy reads in
// one place.
#pragma once

#include "tessera/actors/scheduler.hpp"

#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <set>

namespace tessera::actors {

struct pending {
  infer_job job;
  caf::typed_response_promise<infer_outcome> promise;
};

struct slot {
  executor_actor handle;
  bool busy = false;
  bool reachable = true; ///< the bridge's last word (local executors stay reachable)
  /// Counts the bridge's words: a failure from before the last one is stale.
  uint64_t bridge_words = 0;
  /// Held off after it failed a job as unavailable; `holds` numbers the hold-offs.
  bool held_off = false;
  uint64_t holds = 0;
  std::set<std::string> models; ///< models it holds, as far as the scheduler knows
  std::deque<std::string> recent; ///< for executors that do not report what they hold
  /// Fused groups it holds, as it last reported (local executors report them).
  std::vector<std::shared_ptr<const fused_plan>> groups;

  /// Takes work: reachable, and not held off.
  bool up() const {
    return reachable && !held_off;
  }

  /// Notes a model an executor ran, keeping only the last few: an executor
  /// that does not report its models has likely swapped older ones out.
  void remember(const std::string& model) {
    constexpr size_t kept = 3;
    recent.erase(std::remove(recent.begin(), recent.end(), model), recent.end());
    recent.push_back(model);
    if (recent.size() > kept)
      recent.pop_front();
    models = std::set<std::string>(recent.begin(), recent.end());
  }
};

/// What an idle executor runs next: one job, a batch of one model's jobs, or
/// (with `group` set) one pass of a fused group it holds over jobs for members
/// of that group that share an input.
struct taken {
  std::vector<pending> members;
  std::shared_ptr<const fused_plan> group;
};

/// Which queued jobs an executor may take.
using job_filter = std::function<bool(const infer_job&)>;

class job_queue {
public:
  explicit job_queue(scheduler_options opts) : opts_(std::move(opts)) {
    // nop
  }

  void push(pending p) {
    queue_.push_back(std::move(p));
  }

  void push_front(pending p) {
    queue_.push_front(std::move(p));
  }

  bool empty() const {
    return queue_.empty();
  }

  size_t size() const {
    return queue_.size();
  }

  const std::deque<pending>& jobs() const {
    return queue_;
  }

  /// Answers and removes the jobs past their deadline.
  void expire(steady_time now);

  /// Answers and removes every job with `err`.
  void fail_all(const caf::error& err);

  /// The next job for an idle executor, removed from the queue, with the
  /// queued jobs that join its batch or its group pass; empty when nothing
  /// should run now. When a batch or a group pass could still grow (and
  /// max_queue_delay allows a wait), `wake` is set to when it stops waiting.
  /// Only jobs that `accept` (placed on this executor) are taken; every job
  /// when it is empty.
  taken take(const slot& s, steady_time now, steady_time& wake, const job_filter& accept = {});

private:
  std::deque<pending>::iterator pick(const slot& s, steady_time now, const job_filter& accept);

  /// A group `s` holds that queue_[first] is a member of, and the queued
  /// jobs (queue_[first] included) that can share a pass of it: members whose
  /// inputs agree and share one with the pass. No plan when there is none.
  struct pass_candidates {
    std::shared_ptr<const fused_plan> plan;
    std::vector<size_t> indices;
  };
  pass_candidates find_pass(const slot& s, size_t first, const job_filter& accept) const;

  void take_out(std::vector<size_t> indices, std::vector<pending>& out);

  scheduler_options opts_;
  std::deque<pending> queue_;
};

} // namespace tessera::actors
