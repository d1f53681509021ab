#include "tessera/actors/device_tier.hpp"

#include "tessera/core/error.hpp"
#include "tessera/cuda/caching_device_memory.hpp"
#include "tessera/cuda/cuda_devices.hpp"
#include "tessera/residency/cpu_arena.hpp"

namespace tessera::actors {

caf::expected<device_tier> make_device_tier(const node_config& cfg) {
  device_tier tier;
  if (cfg.device == "cpu") {
    tier.memory = std::make_unique<residency::cpu_arena>(0, 64u << 20, cfg.device_cache_bytes);
    return tier;
  }
  auto n = cuda::cuda_device_index(cfg.device);
  if (!n)
    return wrap(n.error(), "device \"" + cfg.device + "\": expected cpu or cuda:N");
  auto gpu = cuda::make_cuda_device_memory(*n, cuda::device_cache_options{cfg.device_cache_bytes});
  if (!gpu)
    return wrap(gpu.error(), "device \"" + cfg.device + "\"");
  if (!(*gpu)->host_accessible() && cfg.mode == load_mode::in_place)
    return make_error(ec::invalid_argument, "device \"" + cfg.device
                                              + "\" is memory the CPU cannot address: set load_mode = copy "
                                                "(blobs are staged in pinned memory and copied)");
  tier.memory = std::move(*gpu);
  // Copied blobs lie in GPU memory; in-place ones (a unified-memory GPU) are
  // views of the mapped store, which the executor copies when it binds them.
  tier.on_device = cfg.mode == load_mode::copy;
  return tier;
}

} // namespace tessera::actors
