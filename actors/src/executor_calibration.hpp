// The start-up measurement behind `executors = "auto"`: the node's throughput
// with 1..N executors running its own models concurrently, each executor on its
// own thread with its share of the cores, as the node would run them. The
// count itself is picked by core/executor_count.hpp.
#pragma once

#include "tessera/backend/model_executor.hpp"
#include "tessera/core/manifest.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace tessera::actors {

struct calibration_options {
  uint32_t max_executors = 4;          ///< counts 1..this are measured
  uint32_t cores = 1;                  ///< split among the executors of a count
  std::chrono::milliseconds span{400}; ///< measured time per count, after a warm-up
  size_t models = 3;                   ///< the node's smallest models, run in turn
};

/// Makes executor `index` with `threads` LibTorch threads.
using calibration_backend = std::function<caf::expected<std::unique_ptr<backend::model_executor>>(
    uint32_t index, uint32_t threads)>;

/// Jobs per second (batch 1) with k + 1 executors at index k; empty when the
/// catalogue has no model to run. A load or run that fails is an error that
/// names the model.
caf::expected<std::vector<double>>
measure_executor_throughput(const std::vector<model_manifest>& catalogue,
                            const calibration_backend& make, const calibration_options& opts);

} // namespace tessera::actors
