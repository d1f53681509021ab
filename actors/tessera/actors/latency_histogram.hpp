// A Prometheus-style histogram of durations in milliseconds, as plain data:
// the gateway's request metrics and the executors' load reports both count
// into it, and metrics_text renders it with its bounds in seconds.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace tessera::actors {

/// Bucket bounds of every latency histogram, in milliseconds.
inline constexpr std::array<double, 14> latency_bounds_ms{0.5, 1,   2,   5,    10,   20,   50,
                                                          100, 200, 500, 1000, 2000, 5000, 10000};

/// Per-bucket counts over latency_bounds_ms (not cumulative; the last bucket
/// is +Inf), their sum and count.
struct latency_histogram {
  std::array<uint64_t, latency_bounds_ms.size() + 1> buckets{};
  double sum_ms = 0.0;
  uint64_t count = 0;

  void observe(double ms) {
    auto i = std::lower_bound(latency_bounds_ms.begin(), latency_bounds_ms.end(), ms);
    ++buckets[static_cast<size_t>(i - latency_bounds_ms.begin())];
    sum_ms += ms;
    ++count;
  }
};

} // namespace tessera::actors
