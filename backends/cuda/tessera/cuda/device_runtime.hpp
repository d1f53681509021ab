// The few calls device memory needs from a GPU runtime: raw allocation, copies
// from host memory on the calling thread's stream, and the driver's free/total
// figures. The CUDA runtime implements it with cudaMalloc, cudaMemcpyAsync and
// cudaMemGetInfo; tests implement it on the heap, so the caching allocator
// above it is tested on a CPU.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tessera::cuda {

/// The driver's view of one device's memory (cudaMemGetInfo).
struct driver_memory {
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
};

class device_runtime {
public:
  virtual ~device_runtime() = default;

  /// "cuda:0".
  virtual std::string name() const = 0;

  /// True when kernels may read host memory in place (unified memory).
  virtual bool host_accessible() const = 0;

  /// Allocates device memory (256-byte aligned), or fails with ec::out_of_memory.
  virtual caf::expected<std::byte*> allocate(size_t bytes) = 0;

  /// Frees memory from allocate(). cudaFree waits for the device to go idle,
  /// which is why the caching allocator calls it rarely.
  virtual void deallocate(std::byte* data) = 0;

  /// Enqueues a host-to-device copy on the calling thread's stream.
  virtual caf::error copy_from_host(std::byte* dst, const std::byte* src, size_t bytes) = 0;

  /// Copies device bytes back to the host and waits for them (checks, tests).
  virtual caf::error copy_to_host(std::byte* dst, const std::byte* src, size_t bytes) = 0;

  /// Waits for every copy the calling thread enqueued.
  virtual caf::error synchronize() = 0;

  /// Free and total device memory, as the driver counts them (all processes).
  virtual caf::expected<driver_memory> memory_info() = 0;
};

/// The CUDA runtime on GPU `device`. Fails with ec::unsupported in a build
/// without CUDA, and where the runtime finds no driver or no such GPU.
caf::expected<std::unique_ptr<device_runtime>> make_cuda_device_runtime(int device);

} // namespace tessera::cuda
