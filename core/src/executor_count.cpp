#include "tessera/core/executor_count.hpp"

#include <cmath>
#include <cstdio>

namespace tessera {

uint32_t choose_executor_count(const std::vector<double>& jobs_per_s,
                               const executor_count_options& opts) {
  uint32_t best = 1;
  double best_rate = 0.0;
  for (size_t k = 0; k < jobs_per_s.size(); ++k) {
    auto rate = jobs_per_s[k];
    if (!std::isfinite(rate) || rate <= 0.0)
      continue;
    // The first usable figure sets the bar; later ones must beat it clearly.
    if (best_rate == 0.0 || rate >= best_rate * (1.0 + opts.min_gain)) {
      best = static_cast<uint32_t>(k + 1);
      best_rate = rate;
    }
  }
  return best;
}

std::string describe_executor_count(const std::vector<double>& jobs_per_s, uint32_t chosen) {
  std::string out = "executors = auto:";
  for (size_t k = 0; k < jobs_per_s.size(); ++k) {
    char part[64];
    std::snprintf(part, sizeof part, " %zu -> %.1f jobs/s%s", k + 1, jobs_per_s[k],
                  k + 1 < jobs_per_s.size() ? "," : "");
    out += part;
  }
  return out + "; running " + std::to_string(chosen);
}

} // namespace tessera
