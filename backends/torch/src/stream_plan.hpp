// The blocks a streamed run loads, in the order it runs them: one step per
// node the wanted outputs need, with the distinct blobs the step leases and the
// step after which no later step needs them. Torch-free, like the window.
#pragma once

#include "tessera/core/manifest.hpp"
#include "tessera/core/model_graph.hpp"
#include "tessera/residency/residency_stats.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::torch_backend {

struct stream_step {
  uint32_t node = 0; ///< index into the manifest's nodes
  std::string name;
  std::vector<residency::blob_ref> blobs; ///< distinct blobs of the block
  uint64_t bytes = 0;
  /// The step after which the step's lease goes: its own position, or the
  /// last later step that binds one of the same blobs.
  uint32_t release_after = 0;
};

struct stream_plan {
  std::vector<stream_step> steps;
  uint64_t model_bytes = 0;   ///< distinct blob bytes of all steps
  uint32_t largest_step = 0;  ///< index into steps
  uint64_t largest_bytes = 0;
};

/// The steps of the sub-DAG `wanted` needs, in `g.order`.
stream_plan plan_stream(const model_manifest& m, const model_graph& g,
                        const std::vector<uint32_t>& wanted);

/// ec::out_of_memory, naming the largest block, its bytes and the budget, when
/// that block alone does not fit `budget_bytes`.
caf::error check_stream_fits(const stream_plan& plan, const std::string& model,
                             uint64_t budget_bytes, const std::string& budget_name);

} // namespace tessera::torch_backend
