// Turns a block plan into a stored model: draws each parameter from its stream,
// puts blobs and skeletons into the block store and assembles the manifest.
// It remembers what it wrote, so blocks shared between variants are made once.
#pragma once

#include "tessera/core/manifest.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/zoo/block_plan.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessera::zoo {

/// Which streams a model's parameters are drawn from.
struct lineage_plan {
  uint64_t seed = 0;
  std::string family;
  /// Modules whose blocks are drawn from the `changed_tag` streams; every other
  /// block uses "base".
  std::vector<std::string> changed_modules;
  std::string changed_tag;
};

class model_writer {
public:
  explicit model_writer(const store::block_store& store);

  /// Stores the skeletons and blobs of `arch` and fills the inputs, outputs and
  /// nodes of `m` (whose name, family and description the caller sets). The
  /// input is `image` float32 [-1,3,224,224]; the output `logits` comes from the
  /// last block.
  caf::error write(const architecture& arch, const lineage_plan& lineage,
                   model_manifest& m);

  /// Bytes of parameter values generated so far (each distinct tensor once).
  size_t bytes_generated() const {
    return bytes_generated_;
  }

private:
  caf::expected<content_id> skeleton(const std::string& script);
  caf::expected<param_binding> param(const param_plan& p, uint64_t key);

  const store::block_store* store_;
  std::unordered_map<std::string, content_id> skeletons_;
  std::unordered_map<uint64_t, param_binding> params_;
  std::vector<float> buffer_;
  size_t bytes_generated_ = 0;
};

} // namespace tessera::zoo
