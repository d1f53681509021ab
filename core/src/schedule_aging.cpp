#include "tessera/core/schedule_aging.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <cmath>

namespace tessera {

caf::error validate(const aging_policy& policy) {
  if (!(policy.step_ms > 0.0) || !std::isfinite(policy.step_ms))
    return make_error(ec::bad_config, "aging step_ms must be positive and finite");
  if (policy.max_priority < 0)
    return make_error(ec::bad_config, "aging max_priority must not be negative");
  return {};
}

int effective_priority(int base, double waited_ms, const aging_policy& policy) {
  int start = std::min(base, policy.max_priority);
  if (!(waited_ms > 0.0))
    return start;
  double levels = std::floor(waited_ms / policy.step_ms);
  double raised = static_cast<double>(start) + levels;
  return raised >= policy.max_priority ? policy.max_priority : static_cast<int>(raised);
}

bool saturated(int base, double waited_ms, const aging_policy& policy) {
  return effective_priority(base, waited_ms, policy) >= policy.max_priority;
}

std::vector<size_t> aged_candidates(const std::vector<aged_request>& queue, double now_ms,
                                    const aging_policy& policy) {
  size_t oldest = queue.size();
  int top = 0;
  for (size_t i = 0; i < queue.size(); ++i) {
    const auto& r = queue[i];
    int level = effective_priority(r.base_priority, now_ms - r.arrival_ms, policy);
    if (level >= policy.max_priority &&
        (oldest == queue.size() || r.arrival_ms < queue[oldest].arrival_ms))
      oldest = i;
    top = i == 0 ? level : std::max(top, level);
  }
  if (oldest < queue.size())
    return {oldest};
  std::vector<size_t> out;
  for (size_t i = 0; i < queue.size(); ++i)
    if (effective_priority(queue[i].base_priority, now_ms - queue[i].arrival_ms, policy) == top)
      out.push_back(i);
  return out;
}

double starvation_bound_ms(int base, const aging_policy& policy, size_t queue_capacity,
                           double max_service_ms) {
  int start = std::min(base, policy.max_priority);
  double to_saturate = static_cast<double>(policy.max_priority - start) * policy.step_ms;
  // Once saturated, only older saturated requests (at most queue_capacity - 1)
  // and the request already on the device run before it.
  double ahead = static_cast<double>(queue_capacity > 0 ? queue_capacity - 1 : 0) + 1.0;
  return to_saturate + ahead * max_service_ms;
}

} // namespace tessera
