// How the scheduler turns pending jobs into one executor job and hands the
// outcome back: a batch of one model's jobs (their rows stacked, then split),
// and a pass of a fused group for several members (each gets its member's
// outputs under its own names).
#pragma once

#include "scheduler_queue.hpp"
#include "tessera/core/fusion_plan.hpp"

#include <caf/expected.hpp>

#include <vector>

namespace tessera::actors {

/// Stacks the members' inputs into one job.
caf::expected<infer_job> combine(const std::vector<pending>& members);

/// Hands each member its rows of the batch's outputs.
void deliver_split(std::vector<pending>& members, infer_outcome& out);

/// One job that runs a group pass for every member the pending jobs ask.
caf::expected<infer_job> combine_pass(const fused_plan& plan, const std::vector<pending>& members);

/// Hands each pending job its member's outputs of a group pass, under its
/// own output names.
void deliver_pass(const fused_plan& plan, std::vector<pending>& members, const infer_outcome& out);

} // namespace tessera::actors
