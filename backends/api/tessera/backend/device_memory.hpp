// The memory of one device, as the residency manager sees it: allocate, copy in
// from host memory, and say whether host memory can be used in place. The CPU
// arena (backends/residency) implements it; the CUDA device (backends/cuda) does
// too, so the manager runs one code path on both.
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tessera::backend {

/// One allocation of device memory. Dropping the last owner frees it.
struct device_block {
  std::byte* data = nullptr;
  size_t bytes = 0;
  std::shared_ptr<void> owner;
};

class device_memory {
public:
  virtual ~device_memory() = default;

  /// "cpu" or "cuda:0".
  virtual std::string name() const = 0;

  /// True when tensors on this device may view host memory directly (CPU, or
  /// unified memory as on Jetson), so blobs can be used in place.
  virtual bool host_accessible() const = 0;

  /// Allocates `bytes` of device memory, or fails with ec::out_of_memory.
  virtual caf::expected<device_block> allocate(size_t bytes) = 0;

  /// Copies host bytes into device memory. It may only enqueue the copy; the
  /// bytes are in place, and `src` may be reused, once synchronize() returns.
  virtual caf::error copy_from_host(std::byte* dst, const std::byte* src, size_t bytes) = 0;

  /// Waits for every copy this thread enqueued.
  virtual caf::error synchronize() = 0;

  /// Bytes of live allocations, as the device itself counts them (the driver's view).
  virtual uint64_t allocated_bytes() const = 0;

  /// Freed memory the device keeps for the next allocations instead of giving
  /// it back (a caching allocator's cache, or the CPU arena's retained pages).
  virtual uint64_t cached_bytes() const {
    return 0;
  }

  /// Gives every cached byte back (to the driver, or to the operating system)
  /// and returns how many; what live allocations hold is untouched.
  virtual uint64_t trim() {
    return 0;
  }
};

} // namespace tessera::backend
