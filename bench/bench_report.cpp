#include "bench_report.hpp"

#include <algorithm>
#include <cstdio>

namespace tessera::bench {

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  auto n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : 0.5 * (xs[n / 2 - 1] + xs[n / 2]);
}

void bench_report::finish(const bench_options& opts) const {
  std::printf("\n%s metrics:\n", name_.c_str());
  for (const auto& [k, v] : metrics_)
    std::printf("  %-40s %.4f\n", k.c_str(), v);
  if (opts.json) {
    std::printf("{\"bench\": \"%s\", \"metrics\": {", name_.c_str());
    bool first = true;
    for (const auto& [k, v] : metrics_) {
      std::printf("%s\"%s\": %.6g", first ? "" : ", ", k.c_str(), v);
      first = false;
    }
    std::printf("}}\n");
  }
  std::fflush(stdout);
}

double quantile(std::vector<double> xs, double q) {
  if (xs.empty())
    return 0.0;
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<size_t>(q * static_cast<double>(xs.size()));
  return xs[std::min(xs.size() - 1, i)];
}

} // namespace tessera::bench
