// The scheduler's placement table: which executors each unit (a model, or the
// fused group that serves it) is placed on, kept up to date with core's
// placement review (core/tessera/core/placement.hpp) from what the scheduler
// knows: executors up or down, what they hold, their nodes' free memory, and
// the jobs queued. Plain data owned by the scheduler actor; no messages.
#pragma once

#include "scheduler_queue.hpp"

#include "tessera/core/placement.hpp"

#include <map>
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

  /// Whether executor `index` takes jobs of `unit`.
  bool placed_on(const std::string& unit, size_t index) const;

  /// The executors `unit` is placed on, primary first.
  std::vector<size_t> executors_of(const std::string& unit) const;

  /// Places units that have queued jobs and no executor, and reviews every
  /// placed unit once (re-place, replicate, drop), at `now_ms`.
  void review(const std::vector<slot>& slots, const std::deque<pending>& queue, steady_time now,
              double now_ms);

  /// Notes that executor `index` started a job of `unit` (a replica in use is kept).
  void started(const std::string& unit, size_t index, double now_ms);

  /// Notes an executor's report after a job: how long the job ran, and its
  /// node's free memory. Holdings that changed are passed as `changed`.
  void finished(const std::string& unit, size_t index, double run_ms, uint64_t free_bytes,
                bool changed);

  /// Forgets what executor `index` held (it went down).
  void holdings_changed(size_t index);

  /// Takes the blobs resident on executor `index`'s node as it reported them
  /// (a remote executor's peer); they count as resident there beside the
  /// blobs of what its executors hold. True when the list changed.
  bool resident_reported(size_t index, std::shared_ptr<const std::vector<content_id>> blobs);

  /// Drops the reported list of executor `index`'s node (it went down).
  void forget_report(size_t index);

  /// Where each unit is, and how often placement changed.
  placement_status status() const;

private:
  struct slot_load {
    uint32_t queued = 0;
    double queued_ms = 0.0;
  };

  uint32_t node_of(size_t index) const;
  const placement_unit& unit_info(const std::string& unit) const;
  uint64_t resident_bytes(const std::string& unit, uint32_t node,
                          const std::vector<slot>& slots) const;
  double mean_ms(const std::string& unit) const;
  std::vector<slot_load> loads(const std::vector<slot>& slots,
                               const std::map<std::string, unit_load>& queued) const;
  std::vector<executor_view> views(const std::string& unit, const std::vector<slot>& slots,
                                   const std::vector<slot_load>& load, bool queued) const;
  void refresh_groups(const std::vector<slot>& slots);

  bool enabled_ = true;
  placement_options opts_;
  std::shared_ptr<const std::map<std::string, placement_unit>> catalog_;
  std::vector<uint32_t> nodes_;
  std::map<std::string, std::vector<placed_replica>> placed_;
  std::map<uint32_t, uint64_t> free_bytes_;     ///< by node, as last reported
  std::map<uint32_t, std::shared_ptr<const std::vector<content_id>>> reported_; ///< by node
  std::map<std::string, double> service_ms_;    ///< by unit: a running mean of its run times
  double overall_ms_ = 0.0;                     ///< the same over every unit
  std::map<std::string, std::string> group_of_; ///< member model name -> held group
  bool groups_dirty_ = true;
  mutable std::map<std::string, placement_unit> units_; ///< catalog and group plans, looked up
  mutable std::map<uint32_t, std::unordered_set<content_id>> resident_; ///< by node, from holdings
  mutable std::map<std::pair<std::string, uint32_t>, uint64_t> resident_bytes_;
  std::map<placement_action, uint64_t> counts_;
  std::map<std::string, std::shared_ptr<const fused_plan>> plans_; ///< groups executors reported
};

} // namespace tessera::actors
