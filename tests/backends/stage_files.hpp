// A chain node of a zoo model as a single-node model of its own, so that tests
// can export it as one TorchScript stage file of a stage folder.
#pragma once

#include "tessera/core/manifest.hpp"

#include <string>

namespace tessera::test {

/// The model that runs node `i` of `m` alone, on an input of `in_spec`.
inline model_manifest stage_of(const model_manifest& m, size_t i, const tensor_spec& in_spec) {
  model_manifest s;
  s.name = m.name + "-stage" + std::to_string(i);
  s.inputs = {{"x", in_spec, ""}};
  auto node = m.nodes[i];
  node.inputs = {"x"};
  s.outputs = {{"y", *node.output, node.name}};
  s.nodes = {node};
  return s;
}

} // namespace tessera::test
