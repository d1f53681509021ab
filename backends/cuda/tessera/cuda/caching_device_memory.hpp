// Device memory for the residency manager on a GPU: a caching allocator over a
// device_runtime. Freed blocks are kept, by rounded size, for the next load of
// the same blobs (cudaMalloc and cudaFree cost far more than a lookup, and
// cudaFree stalls the device), up to a cap; trim() hands every cached block
// back to the driver, so an unload can really return memory, and figures()
// shows live, cached and driver-side bytes side by side.
#pragma once

#include "tessera/backend/device_memory.hpp"
#include "tessera/cuda/device_runtime.hpp"

#include <memory>

namespace tessera::cuda {

struct device_cache_options {
  /// Freed bytes kept for reuse; a block that would push the cache past this
  /// goes back to the driver at once. 0 disables caching.
  uint64_t cache_limit_bytes = 256ull << 20;
};

/// The allocator's own counters.
struct allocator_figures {
  uint64_t live_bytes = 0;         ///< handed out and not yet freed (rounded sizes)
  uint64_t cached_bytes = 0;       ///< freed, kept for reuse
  uint64_t reserved_bytes = 0;     ///< live + cached: what the allocator holds from the driver
  uint64_t device_allocations = 0; ///< calls to the runtime's allocate
  uint64_t device_frees = 0;       ///< calls to the runtime's deallocate
  uint64_t cache_hits = 0;         ///< allocations served from the cache
  uint64_t trimmed_bytes = 0;      ///< bytes trim() returned, in total
};

/// Rounds a request the way the allocator does: 512-byte steps up to 1 MiB,
/// 2 MiB steps above (so freed blocks fit later requests of similar size).
size_t rounded_allocation_bytes(size_t bytes);

class caching_device_memory final : public backend::device_memory {
public:
  caching_device_memory(std::unique_ptr<device_runtime> runtime, device_cache_options opts = {});
  ~caching_device_memory() override;

  std::string name() const override;
  bool host_accessible() const override;
  caf::expected<backend::device_block> allocate(size_t bytes) override;
  caf::error copy_from_host(std::byte* dst, const std::byte* src, size_t bytes) override;
  caf::error synchronize() override;

  /// Live bytes (rounded), as this allocator counts them.
  uint64_t allocated_bytes() const override;

  /// Bytes of freed blocks kept for reuse.
  uint64_t cached_bytes() const override;

  /// Returns every cached block to the driver; returns how many bytes.
  uint64_t trim() override;

  allocator_figures figures() const;

  /// Reads device bytes back into host memory (checks and tests).
  caf::error copy_to_host(std::byte* dst, const std::byte* src, size_t bytes);

  /// The driver's view of the device (cudaMemGetInfo).
  caf::expected<driver_memory> driver_view();

  struct state;

private:
  std::shared_ptr<state> state_;
};

/// Caching device memory on GPU `device`. Fails with ec::unsupported in a
/// build without CUDA, and where there is no driver or no such GPU.
caf::expected<std::unique_ptr<caching_device_memory>>
make_cuda_device_memory(int device, device_cache_options opts = {});

} // namespace tessera::cuda
