// The sub-DAG that some outputs of a model need: which nodes to run and when
// each value dies. A fused group runs only what the requested members need;
// a plain model run asks for every output and gets the whole graph.
#pragma once

#include "tessera/core/model_graph.hpp"

#include <cstdint>
#include <vector>

namespace tessera {

struct subgraph_steps {
  /// Per node (indexed like the manifest): true when a wanted output needs it.
  std::vector<bool> needed;
  /// Per needed node: the position in graph.order after which its value is
  /// dead, or order.size() when it feeds a wanted output.
  std::vector<uint32_t> last_use;
};

/// The steps for `outputs` (indices into the graph's outputs, all in range).
subgraph_steps plan_steps(const model_graph& g, const std::vector<uint32_t>& outputs);

} // namespace tessera
