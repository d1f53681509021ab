// Joint uplink bandwidth allocation (PartialLoading): clients upload their inputs
// over one shared uplink, so how the scheduler splits its capacity decides when
// each request can start. Solved as two sub-problems in sequence: order, then
// bandwidth for that order, then order again with the upload completion times.
#pragma once

#include "tessera/core/schedule_model.hpp"

#include <caf/expected.hpp>

#include <functional>
#include <vector>

namespace tessera {

/// Static shares of the uplink, one per request of the instance. A request's
/// upload starts at its `arrival_ms` and completes `input_bytes / share` later.
struct uplink_allocation {
  std::vector<double> share_bytes_per_ms; ///< per request; 0 for requests not kept
  std::vector<double> upload_done_ms;     ///< per request; infinite without a share
  std::vector<size_t> kept;               ///< the requests of the order that get a share
};

/// Sub-problem 2: shares for a fixed service order. Keeps the longest prefix of
/// a fixed drop sequence whose minimal shares fit in `capacity_bytes_per_ms`
/// (so more capacity never keeps fewer), gives each kept request the least share
/// that lets every kept request meet its deadline, and spreads what is left in
/// proportion to input size. Dropped requests get no share at all.
caf::expected<uplink_allocation> allocate_uplink(const schedule_instance& inst,
                                                 const std::vector<size_t>& order,
                                                 double capacity_bytes_per_ms);

/// The instance as the device sees it once uploads use `alloc`: arrivals are the
/// upload completion times, and requests without a share are removed.
schedule_instance with_uploads(const schedule_instance& inst, const uplink_allocation& alloc);

/// A scheduling policy over instances whose arrivals may lie in the future.
using schedule_policy = std::function<schedule_plan(const schedule_instance&)>;

struct uplink_plan {
  uplink_allocation allocation;
  schedule_instance uploaded; ///< with_uploads(inst, allocation); `plan` indexes it
  schedule_plan plan;         ///< served order and outcomes under those arrivals
};

/// The whole sequence: (1) order, with orders that do not depend on the
/// capacity (the policy's, as if uploads were instant, and all by deadline);
/// (2) allocate_uplink() for each, keeping the one that keeps the most;
/// (3) order again with the resulting upload completion times, and keep
/// whichever of (2) and (3) meets more. Steps (1) and (2) alone never meet
/// fewer deadlines with more capacity; docs/scheduling.md says why.
caf::expected<uplink_plan> schedule_with_uplink(const schedule_instance& inst,
                                                double capacity_bytes_per_ms,
                                                const schedule_policy& policy);

} // namespace tessera
