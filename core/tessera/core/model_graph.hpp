// The checked, resolved form of a manifest: every reference points at an input or
// a node by index, and nodes are in an order where producers precede consumers.
// validate_manifest() is the single gate a manifest passes before any use.
#pragma once

#include "tessera/core/manifest.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <vector>

namespace tessera {

/// Where a value comes from: a model input, or element `element` of a node's output.
struct value_ref {
  bool from_input = false;
  uint32_t index = 0;
  uint32_t element = 0;

  friend bool operator==(const value_ref& a, const value_ref& b) {
    return a.from_input == b.from_input && a.index == b.index
           && a.element == b.element;
  }
};

struct model_graph {
  /// Node indices in a topological order (stable: manifest order where free).
  std::vector<uint32_t> order;
  /// Resolved inputs of each node, indexed like manifest.nodes.
  std::vector<std::vector<value_ref>> node_inputs;
  /// Resolved source of each model output.
  std::vector<value_ref> outputs;
  /// For each node, the position in `order` after which its value is dead;
  /// nodes feeding model outputs live to the end.
  std::vector<uint32_t> last_use;
};

/// Checks every rule of docs/model-format.md that needs no store: names, batch
/// dimensions, references, cycles and declared types. Errors name the model and
/// the field.
caf::expected<model_graph> validate_manifest(const model_manifest& m);

/// Parses "node" or "node:2" into its name and element index.
bool split_value_name(const std::string& text, std::string& name, uint32_t& element);

} // namespace tessera
