// The built-in model zoo: three families (ResNet-18, MobileNetV2, ViT-Tiny), each
// in five variants whose parameters overlap in known ways (shared backbone, partial
// fine-tune, unrelated), generated deterministically and written to a block store.
// It is what `tessera zoo`, the tests and the benchmarks use; docs/model-zoo.md.
#pragma once

#include "tessera/core/manifest.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tessera::zoo {

struct zoo_options {
  /// Multiplies every width (channels, embedding and MLP dims); 1.0 is the
  /// published architecture. Must lie in (0, 16].
  double scale = 1.0;
  /// Seeds every parameter value; the same seed gives the same blob ids.
  uint64_t seed = 42;
  /// Families to build ("resnet", "mobilenet", "vit"); empty means all.
  std::vector<std::string> families;
  /// false builds the same models (names, architectures, heads, sizes) with
  /// every variant from a seed of its own, so that no two share parameters:
  /// the counterfactual `tessera bench serve --ablations` runs as "without
  /// sharing". Every variant is then `unrelated`.
  bool shared = true;
};

/// How a variant's parameters relate to its family's base model.
enum class sharing_kind {
  base,      ///< the family's base model (1000 classes)
  head,      ///< same backbone blobs, new classifier head (bottom-layer sharing)
  finetune,  ///< a few blocks at different depths and the head retrained
  unrelated, ///< same architecture, another seed: shares nothing
};

const char* to_string(sharing_kind kind);

struct zoo_entry {
  model_manifest manifest;
  sharing_kind sharing = sharing_kind::base;
  /// Name of the base model for head and finetune variants, empty otherwise.
  std::string derived_from;
  /// Modules (layers, residual blocks, the head) whose parameters differ from
  /// `derived_from`, and the nodes that compute them (empty without one). A
  /// module is one node unless it is above the zoo's block limit.
  std::vector<std::string> changed_modules;
  std::vector<std::string> changed_nodes;
};

/// {"resnet", "mobilenet", "vit"}
std::vector<std::string> zoo_families();

/// Generates the zoo's models, writes their skeletons and blobs into `store` and
/// adds their manifests (each one checked by `store.add_model`). Models come in
/// family order, base first. `progress(model, done, total)` is called after each
/// model is stored. Rebuilding with the same options rewrites nothing new.
caf::expected<std::vector<zoo_entry>>
build_zoo(const store::block_store& store, const zoo_options& opts,
          const std::function<void(const std::string& model, size_t done, size_t total)>&
            progress = {});

} // namespace tessera::zoo
