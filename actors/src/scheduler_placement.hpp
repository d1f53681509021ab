// The scheduler's placement table: which executors each unit (a model, or the
// fused group that serves it) is placed on, kept up to date with core's
// placement review (core/tessera/core/placement.hpp) from what the scheduler
// knows: executors up or down, what they hold, their nodes' free memory, and
// the jobs queued. Plain data owned by the scheduler actor; no messages.
//
// Units are numbered (unit_index) so that the per-job questions (which unit,
// which executors, which units an executor takes) cost no string compares;
// a full review, which scores every executor for every busy unit, runs on a
// cadence (placement_options::review_interval_ms), not on every event.
#pragma once

#include "scheduler_queue.hpp"

#include "tessera/core/placement.hpp"

#include <map>
#include <unordered_map>
#include <unordered_set>

namespace tessera::actors {

class placement_table {
public:
  explicit placement_table(const scheduler_options& opts);

  /// Whether jobs are routed by placement (otherwise any idle executor takes any job).
  bool enabled() const {
    return enabled_;
  }

  /// The unit that serves a job: a group job's group; a model that a group
  /// some executor holds lists, that group; otherwise the model.
  const std::string& unit_of(const infer_job& job) const;

  /// The number of the job's unit (numbers are kept for the table's life).
  unit_index unit_id(const infer_job& job);

  /// A unit's measured service time: a running mean of its jobs' run times on
  /// an executor (loads not counted, so it errs low); 0 while none has run.
  double service_ms(const std::string& unit) const;

  /// What a job of `unit` is expected to run: its service time, or the mean
  /// over every unit while it has none (0 before any job ran).
  double expected_ms(const std::string& unit) const;

  /// The units placed on executor `index`, by number (none while placement is off).
  const std::vector<unit_index>& units_on(size_t index) const;

  /// The executors (of the first `executors`) that may take a job of
  /// `units`: those any of them is placed on, or every one while placement
  /// is off; in index order, once each. Dispatch looks only at these, not at
  /// every executor on every event (a cost that grew with the cluster).
  std::vector<size_t> executors_for(const std::vector<unit_index>& units, size_t executors) const;

  /// Takes the fused groups executors reported, when they changed; true when
  /// the unit of some model changed (the queue then files its jobs again).
  bool refresh_groups(const std::vector<slot>& slots);

  /// Places units that have queued jobs and no executor up, at once; and,
  /// once per review_interval_ms (or sooner when an executor went down),
  /// reviews every unit with queued jobs or replicas (re-place, replicate,
  /// drop), at `now_ms`. Reviews happen at dispatches (arrivals and
  /// completions); nothing wakes the scheduler for one.
  void review(const std::vector<slot>& slots, const job_queue& queue, steady_time now,
              double now_ms);

  /// The executor a `model_load` of `unit` goes to: where the unit is
  /// placed (its first replica up), else where placement puts it now, as
  /// for a first job (the placement is kept). While placement is off, the
  /// first executor up. None when no executor is up.
  std::optional<size_t> place_for_load(unit_index unit, const std::vector<slot>& slots,
                                       const job_queue& queue, double now_ms);

  /// Notes that executor `index` started a job of `unit` (a replica in use is kept).
  void started(const std::string& unit, size_t index, double now_ms);

  /// Notes an executor's report after a job: how long the job ran, and its
  /// node's free memory. Holdings that changed are passed as `changed`,
  /// groups it reported that changed as `groups_changed`.
  void finished(const std::string& unit, size_t index, double run_ms, uint64_t free_bytes,
                bool changed, bool groups_changed);

  /// Notes a job's load: `bytes` read in `load_ms`. Placement prices loads
  /// at the bandwidth these show (a running ratio of bytes to time), not at
  /// its configured guess, once loads have read some.
  void loaded(uint64_t bytes, double load_ms);

  /// Notes that what executor `index` holds changed (a load, or it went
  /// down): what was derived from its holdings is computed again.
  void holdings_changed(size_t index);

  /// Takes the blobs resident on executor `index`'s node as it reported them
  /// (a remote executor's peer); they count as resident there beside the
  /// blobs of what its executors hold. True when the list changed.
  bool resident_reported(size_t index, std::shared_ptr<const std::vector<content_id>> blobs);

  /// Drops the reported list of executor `index`'s node (it went down), and
  /// asks for a review at the next dispatch.
  void forget_report(size_t index);

  /// Where each unit is, and how often placement changed.
  placement_status status() const;

  /// Executor `index`'s node (each executor is a node of its own when the
  /// options name none).
  uint32_t node_of(size_t index) const;

private:
  /// Executor `index`'s node numbered densely from 0, for the caches.
  uint32_t dense_node(size_t index) const;
  const placement_unit& unit_info(const std::string& unit) const;
  uint64_t resident_bytes(unit_index unit, size_t index, const std::vector<slot>& slots) const;
  /// The numbered units executor `index` holds, sorted.
  const std::vector<unit_index>& held_units(size_t index, const std::vector<slot>& slots) const;
  /// Every executor as any unit sees it (up, node, free memory, the work
  /// queued there, what is left of the work running there at `now_ms`);
  /// views() adds what is particular to one unit.
  std::vector<executor_view> base_views(const std::vector<slot>& slots, const job_queue& queue,
                                        double now_ms) const;
  /// Adds (`sign` 1) or takes away (-1) `unit`'s queued work on `replicas`.
  void shift_load(std::vector<executor_view>& views, unit_index unit,
                  const std::vector<placed_replica>& replicas, const job_queue& queue,
                  int sign) const;
  /// review_unit, then the change's effect on the executors' loads in `base`.
  placement_action review_and_shift(unit_index unit, const std::vector<slot>& slots,
                                    const job_queue& queue, std::vector<executor_view>& base,
                                    steady_time now, double now_ms);
  std::vector<executor_view> views(unit_index unit, const std::vector<slot>& slots,
                                   const std::vector<executor_view>& base, bool queued) const;
  /// Reviews one unit: makes the change core's review asks for, and returns it.
  placement_action review_unit(unit_index unit, const std::vector<slot>& slots,
                               const job_queue& queue, const std::vector<executor_view>& base,
                               steady_time now, double now_ms);
  void set_replicas(unit_index unit, std::vector<placed_replica> replicas);
  bool any_up(unit_index unit, const std::vector<slot>& slots) const;

  bool enabled_ = true;
  placement_options opts_;
  std::shared_ptr<const std::map<std::string, placement_unit>> catalog_;
  std::vector<uint32_t> nodes_;
  std::vector<std::string> names_;                  ///< by unit number
  std::unordered_map<std::string, unit_index> ids_; ///< unit name -> number
  std::vector<std::vector<placed_replica>> placed_; ///< by unit number
  std::vector<std::vector<unit_index>> units_on_;   ///< by executor
  std::map<uint32_t, uint64_t> free_bytes_;         ///< by node, as last reported
  std::map<uint32_t, std::shared_ptr<const std::vector<content_id>>> reported_; ///< by node
  std::map<std::string, double> service_ms_;    ///< by unit: a running mean of its run times
  double overall_ms_ = 0.0;                     ///< the same over every unit
  double load_bytes_seen_ = 0.0;                ///< bytes of recent loads, decayed (see loaded)
  double load_ms_seen_ = 0.0;                   ///< their time, decayed alike
  std::map<std::string, std::string> group_of_; ///< member model name -> held group
  bool groups_dirty_ = true;
  double last_review_ms_ = -1.0;                        ///< none yet
  bool review_due_ = true;                              ///< an executor went down since
  mutable std::map<std::string, placement_unit> units_; ///< catalog and group plans, looked up
  mutable std::vector<uint32_t> dense_of_slot_;         ///< by executor
  mutable std::unordered_map<uint32_t, uint32_t> dense_of_node_;
  mutable std::vector<std::vector<size_t>>
      slots_of_node_; ///< by dense node, the executors seen there
  /// By dense node: the blobs resident there (from holdings and reports), and
  /// by unit number the unit's bytes among them; empty: not computed since
  /// the node's holdings changed.
  mutable std::vector<std::unordered_set<content_id>> resident_;
  mutable std::vector<bool> resident_known_;
  mutable std::vector<std::vector<unit_index>> held_; ///< by executor; see held_units
  mutable std::vector<bool> held_known_;
  mutable std::vector<std::vector<uint64_t>> resident_bytes_;
  std::map<placement_action, uint64_t> counts_;
  std::map<std::string, std::shared_ptr<const fused_plan>> plans_; ///< groups executors reported
};

} // namespace tessera::actors
