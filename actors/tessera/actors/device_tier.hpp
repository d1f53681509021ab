// The device tier a node's config names, shared by `tessera node` and the
// single-process commands (`run`, `fuse`, `demo`).
#pragma once

#include "tessera/backend/device_memory.hpp"
#include "tessera/core/node_config.hpp"

#include <caf/expected.hpp>

#include <memory>

namespace tessera::actors {

struct device_tier {
  std::unique_ptr<backend::device_memory> memory;
  /// Blobs are loaded into the executors' device's own memory (a GPU in copy
  /// mode): bind them there as device tensors (torch_options::params_on_device).
  bool on_device = false;
};

/// "cpu": the budgeted CPU arena. "cuda:N": GPU N's memory through the
/// caching allocator of backends/cuda, where the build has CUDA and the box
/// has that GPU; otherwise an `unsupported` error that says which. A GPU the
/// CPU cannot address needs `load_mode = copy` (blobs are read into pinned
/// staging and copied); `in_place` is refused there with a clear error.
caf::expected<device_tier> make_device_tier(const node_config& cfg);

} // namespace tessera::actors
