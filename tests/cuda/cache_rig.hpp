// Caching device memory over a heap "device" with shared counts: GPU memory as
// the residency manager sees it (not host-accessible), on a CPU.
#pragma once

#include "heap_device_runtime.hpp"
#include "tessera/cuda/caching_device_memory.hpp"

#include <memory>

namespace tessera::test {

struct cache_rig {
  std::shared_ptr<heap_device_counts> counts = std::make_shared<heap_device_counts>();
  std::unique_ptr<cuda::caching_device_memory> memory;

  explicit cache_rig(uint64_t capacity = 64u << 20, cuda::device_cache_options opts = {}) {
    memory = std::make_unique<cuda::caching_device_memory>(
        std::make_unique<heap_device_runtime>(counts, capacity), opts);
  }
};

} // namespace tessera::test
