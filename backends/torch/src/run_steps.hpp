// One run of a model's block DAG: check the request, walk the nodes that the
// wanted outputs need in topological order, drop each value after its last
// consumer, and turn the wanted outputs into buffers. How a node is computed
// (already bound, or leased and bound just in time) is the caller's part.
// Private to backends/torch (it includes LibTorch).
#pragma once

#include "tessera/backend/model_executor.hpp"
#include "tessera/core/model_graph.hpp"

#include <caf/expected.hpp>
#include <torch/script.h>

#include <functional>
#include <vector>

namespace tessera::torch_backend {

/// Computes node `index` from its arguments. It may throw LibTorch's errors,
/// which the walk reports with the node's name; an error it returns is passed on.
using node_runner = std::function<caf::expected<c10::IValue>(uint32_t index,
                                                             std::vector<c10::IValue> args)>;

/// Checks the wanted output indices and the inputs against the manifest.
caf::error check_run_request(const model_manifest& m, const std::vector<tensor_buffer>& inputs,
                             const std::vector<uint32_t>& wanted);

/// Runs the sub-DAG `wanted` needs (nodes in `g.order`, skipping the rest) and
/// returns the wanted outputs in the order asked. Inputs must have been checked.
caf::expected<std::vector<tensor_buffer>>
run_steps(const model_manifest& m, const model_graph& g, const std::vector<tensor_buffer>& inputs,
          const std::vector<uint32_t>& wanted, const torch::Device& device,
          const node_runner& run_node, backend::run_stats& stats);

} // namespace tessera::torch_backend
