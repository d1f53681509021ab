// Priority aging, so that no request starves: a request gains one priority level
// per `step_ms` it waits, up to `max_priority`, and saturated requests run oldest
// first. docs/scheduling.md derives the wait bound that starvation_bound_ms() gives.
#pragma once

#include <caf/error.hpp>

#include <cstddef>
#include <vector>

namespace tessera {

struct aging_policy {
  double step_ms = 250.0; ///< waiting this long raises a request by one level
  int max_priority = 7;   ///< the level at which requests run oldest first
};

/// Checks that the step is positive and the top level is not negative.
caf::error validate(const aging_policy& policy);

/// The priority a request of priority `base` has after waiting `waited_ms`:
/// base plus one level per full step, capped at `max_priority`. A base above
/// the cap is clamped to it, so clients cannot jump the saturated queue.
int effective_priority(int base, double waited_ms, const aging_policy& policy);

/// Whether a request has reached the top level, where the policy serves requests
/// strictly oldest first instead of by the reuse-aware order.
bool saturated(int base, double waited_ms, const aging_policy& policy);

/// A queued request as aging sees it.
struct aged_request {
  int base_priority = 0;
  double arrival_ms = 0.0;
};

/// The requests the policy lets compete for the device at `now_ms`: the oldest
/// saturated one alone if any is saturated; otherwise every request of the
/// highest effective priority, among which the reuse-aware order chooses.
std::vector<size_t> aged_candidates(const std::vector<aged_request>& queue, double now_ms,
                                    const aging_policy& policy);

/// The longest a request of priority `base` waits before it starts, when at
/// most `queue_capacity` requests are queued (admission control) and none
/// occupies the device longer than `max_service_ms` (load plus execution):
/// the time to saturate, then the older saturated requests and the one running.
double starvation_bound_ms(int base, const aging_policy& policy, size_t queue_capacity,
                           double max_service_ms);

} // namespace tessera
