// A model manifest: a named, versioned DAG of blocks with typed inputs and outputs.
// Pure data; parsing lives in manifest_json.hpp and checking in model_graph.hpp.
// The format is documented in docs/model-format.md.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/core/tensor_spec.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tessera {

/// One parameter of a block: the name the skeleton knows it by, and the blob that
/// holds its value. The spec repeats the blob's type so that sizes are known
/// without opening the store.
struct param_binding {
  std::string name;
  content_id blob;
  tensor_spec spec;
};

/// A node of the DAG: a skeleton (code) applied to parameters and inputs.
struct node_spec {
  std::string name;
  content_id skeleton;
  std::vector<param_binding> params;
  /// Model input names or node names; "node:1" picks element 1 of a tuple output.
  std::vector<std::string> inputs;
  /// Declared output type, checked against model outputs and at run time.
  std::optional<tensor_spec> output;
};

/// A model input or output. Outputs name the node value they expose in `source`.
struct io_spec {
  std::string name;
  tensor_spec spec;
  std::string source;
};

struct model_manifest {
  std::string name;
  uint32_t version = 1;
  /// Free-form grouping, such as the zoo family ("resnet").
  std::string family;
  std::string description;
  std::vector<io_spec> inputs;
  std::vector<io_spec> outputs;
  std::vector<node_spec> nodes;
};

/// "name:version"
std::string model_ref(const model_manifest& m);

/// The parameter block id of a node: the hash of its blob ids in binding order.
content_id block_id(const node_spec& node);

/// Distinct blobs of a model with their bytes, in first-use order.
std::vector<std::pair<content_id, size_t>> unique_blobs(const model_manifest& m);

/// Bytes of the model's distinct blobs.
size_t parameter_bytes(const model_manifest& m);

/// Bytes of the blobs that both models use.
size_t shared_bytes(const model_manifest& a, const model_manifest& b);

} // namespace tessera
