// Deadline-aware admission and shedding (decision 44). Under overload a queue
// of jobs that can no longer meet their deadlines is worse than useless: each
// one an executor runs makes the jobs behind it late too. Two checks, both on
// a job's measured service time (its unit's mean run time, loads not counted,
// so both err towards running):
// - at arrival, a job that could not finish by its deadline even if every
//   executor up worked only on its unit's queue, batched as full as allowed,
//   is refused with `overloaded` and the estimate;
// - when an executor takes it, a job that cannot finish by its deadline if it
//   started now is answered `deadline_exceeded`, and the executor takes the next.
// Jobs without a deadline, or best effort, are never refused by either.
#pragma once

#include "scheduler_placement.hpp"
#include "scheduler_queue.hpp"

namespace tessera::actors {

/// The `overloaded` error for a job arriving at `now`, or none when it may queue.
caf::error refuse_at_arrival(const infer_job& job, unit_index unit,
                             const placement_table& placement, const job_queue& queue,
                             size_t executors_up, uint32_t batch_rows, steady_time now);

/// Answers and removes the members of `work` that cannot finish by their
/// deadlines if they start at `now`, taking `service_ms` to run; returns how
/// many it removed.
size_t shed_late(taken& work, double service_ms, steady_time now);

} // namespace tessera::actors
