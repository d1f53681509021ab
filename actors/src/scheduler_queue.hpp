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
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

namespace tessera::actors {

struct pending {
  infer_job job;
  caf::typed_response_promise<infer_outcome> promise;
};

struct slot {
  executor_actor handle;
  bool busy = false;
  /// While busy: when its work started (scheduler ms), and how long the
  /// placement table expected it to run then, so that the wait ahead of a
  /// job here is what is left of it rather than an average.
  double busy_since_ms = 0.0;
  double expected_ms = 0.0;
  bool reachable = true; ///< the bridge's last word (local executors stay reachable)
  /// Counts the bridge's words: a failure from before the last one is stale.
  uint64_t bridge_words = 0;
  /// Held off after it failed a job as unavailable; `holds` numbers the hold-offs.
  bool held_off = false;
  uint64_t holds = 0;
  std::set<std::string> models;   ///< models it holds, as far as the scheduler knows
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

/// A unit's number in the scheduler (placement_table::unit_id); jobs of one
/// unit wait in one line, so an executor looks only at its units' lines.
using unit_index = uint32_t;

class job_queue {
public:
  explicit job_queue(scheduler_options opts) : opts_(std::move(opts)) {
    // nop
  }

  /// Queues a job of `unit` behind the others.
  void push(pending p, unit_index unit);

  /// Queues a job of `unit` ahead of the others (a job re-queued after its
  /// executor went away keeps its place).
  void push_front(pending p, unit_index unit);

  bool empty() const {
    return jobs_.empty();
  }

  size_t size() const {
    return jobs_.size();
  }

  /// How many jobs of `unit` wait.
  uint32_t queued(unit_index unit) const;

  /// When the longest-waiting job of `unit` arrived; none when none waits.
  std::optional<steady_time> oldest_arrival(unit_index unit) const;

  /// The units that have jobs waiting.
  std::vector<unit_index> units_waiting() const;

  /// Files every job again under the unit `unit_of` gives it now (the units
  /// changed: an executor reported a fused group that serves some models).
  void regroup(const std::function<unit_index(const infer_job&)>& unit_of);

  /// Answers and removes the jobs past their deadline (the earliest first,
  /// so the cost follows the jobs that expire, not the queue's length).
  void expire(steady_time now);

  /// Answers and removes every job with `err`.
  void fail_all(const caf::error& err);

  /// The next job for an idle executor, removed from the queue, with the
  /// queued jobs that join its batch or its group pass; empty when nothing
  /// should run now. When a batch or a group pass could still grow (and
  /// max_queue_delay allows a wait), `wake` is set to when it stops waiting.
  /// Only jobs of `units` (the units placed on this executor) are taken;
  /// every job when `units` is null.
  taken take(const slot& s, steady_time now, steady_time& wake,
             const std::vector<unit_index>* units = nullptr);

private:
  using seq = int64_t; ///< a job's place in the queue: lower runs earlier on a tie

  struct entry {
    pending job;
    unit_index unit = 0;
  };

  void insert(seq at, pending p, unit_index unit);
  entry remove(seq at);

  /// The jobs an executor may take, in queue order.
  std::vector<seq> candidates(const std::vector<unit_index>* units) const;

  seq pick(const slot& s, steady_time now, const std::vector<seq>& among) const;

  /// A group `s` holds that the lead job is a member of, and the candidate
  /// jobs (the lead included) that can share a pass of it: members whose
  /// inputs agree and share one with the pass. No plan when there is none.
  struct pass_candidates {
    std::shared_ptr<const fused_plan> plan;
    std::vector<seq> members;
  };
  pass_candidates find_pass(const slot& s, seq lead, const std::vector<seq>& among) const;

  void take_out(const std::vector<seq>& members, std::vector<pending>& out);

  scheduler_options opts_;
  std::map<seq, entry> jobs_;                             ///< in queue order
  std::unordered_map<unit_index, std::set<seq>> by_unit_; ///< each unit's line
  std::set<std::pair<steady_time, seq>> deadlines_;       ///< jobs that expire, earliest first
  seq front_ = 0;                                         ///< the next push_front takes front_ - 1
  seq back_ = 0;                                          ///< the next push takes back_ + 1
};

} // namespace tessera::actors
