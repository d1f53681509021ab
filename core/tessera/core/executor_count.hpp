// How many executors a node runs when its config says `executors = "auto"`:
// the node measures throughput with 1..N concurrent executors on its own
// models at start-up (actors/src/executor_calibration.cpp), and this pure rule
// picks the count from those figures (docs/scheduling.md, "Concurrency").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

struct executor_count_options {
  /// One more executor is taken only if it raises throughput by at least this
  /// fraction over the best count so far: an executor costs memory for its
  /// activations and splits the cores, so a gain within noise does not pay.
  double min_gain = 0.05;
};

/// The count to run, from `jobs_per_s[k]` measured with k + 1 executors. A
/// count whose figure is missing (not positive, or not a number) is skipped;
/// with no usable figure the answer is 1.
uint32_t choose_executor_count(const std::vector<double>& jobs_per_s,
                               const executor_count_options& opts = {});

/// One line for the node's log: each count's figure and the choice.
std::string describe_executor_count(const std::vector<double>& jobs_per_s, uint32_t chosen);

} // namespace tessera
