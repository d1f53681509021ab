// What two models share as whole blocks: a node with the same skeleton and the
// same blobs in the same order is one block, loaded, computed (in a fused
// group) and swapped once. Blob sharing (shared_bytes in manifest.hpp) counts
// tensors alone; automatic blocks at import aim to make the two agree.
#pragma once

#include "tessera/core/manifest.hpp"

#include <cstdint>

namespace tessera {

/// The parameter bytes of one node.
uint64_t node_param_bytes(const node_spec& n);

/// Parameter bytes of `a` in blocks that `b` holds too (the same skeleton and blobs).
uint64_t shared_block_bytes(const model_manifest& a, const model_manifest& b);

} // namespace tessera
