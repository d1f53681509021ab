#include "tessera/core/eviction.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>

namespace tessera {

const char* to_string(eviction_policy p) {
  return p == eviction_policy::lru ? "lru" : "cost_aware";
}

caf::expected<eviction_policy> parse_eviction_policy(const std::string& text) {
  if (text == "lru")
    return eviction_policy::lru;
  if (text == "cost_aware")
    return eviction_policy::cost_aware;
  return make_error(ec::bad_config, "eviction policy \"" + text + "\" is not lru or cost_aware");
}

double cost_aware_priority(double inflation, double reuse_weight, double reload_cost_ms,
                           uint64_t bytes) {
  constexpr double mib = 1024.0 * 1024.0;
  double size_mib = std::max(static_cast<double>(bytes), 1.0) / mib;
  return inflation + reuse_weight * reload_cost_ms / size_mib;
}

double reuse_weight(uint32_t uses, uint32_t sharing_degree) {
  // Every use counts; sharing counts as much, since each model that binds the
  // blob is a future load that finds it resident.
  return 1.0 + static_cast<double>(uses) + static_cast<double>(sharing_degree);
}

eviction_plan plan_eviction(std::vector<eviction_candidate> candidates,
                            uint64_t bytes_needed, eviction_policy policy,
                            double inflation) {
  eviction_plan plan;
  plan.inflation = inflation;
  if (policy == eviction_policy::lru)
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return a.last_use_tick != b.last_use_tick ? a.last_use_tick < b.last_use_tick
                                                : a.id < b.id;
    });
  else
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      if (a.priority != b.priority)
        return a.priority < b.priority;
      return a.last_use_tick != b.last_use_tick ? a.last_use_tick < b.last_use_tick
                                                : a.id < b.id;
    });
  for (const auto& c : candidates) {
    if (plan.bytes >= bytes_needed)
      break;
    plan.victims.push_back(c.id);
    plan.bytes += c.bytes;
    if (policy == eviction_policy::cost_aware)
      plan.inflation = std::max(plan.inflation, c.priority);
  }
  plan.enough = plan.bytes >= bytes_needed;
  if (!plan.enough)
    plan.inflation = inflation;
  return plan;
}

} // namespace tessera
