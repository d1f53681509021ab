// Where staging buffers come from. On a GPU box they are page-locked with
// cudaHostAlloc, so host-to-device copies are DMA transfers that can run
// asynchronously; on a CPU (and in tests) they come from the heap. The staging
// pool takes either, so its bounding and reuse logic is tested without a GPU.
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace tessera::cuda {

class host_allocator {
public:
  virtual ~host_allocator() = default;

  /// "cudaHostAlloc" or "heap".
  virtual std::string name() const = 0;

  /// True when buffers are page-locked (copies from them can be asynchronous).
  virtual bool page_locked() const = 0;

  /// Allocates `bytes` of host memory, or fails with ec::out_of_memory.
  virtual caf::expected<std::byte*> allocate(size_t bytes) = 0;

  /// Frees memory from allocate(); `bytes` is the size that was asked for.
  virtual void deallocate(std::byte* data, size_t bytes) = 0;
};

/// Page-aligned heap memory, not page-locked.
std::unique_ptr<host_allocator> make_heap_host_allocator();

/// Page-aligned heap memory that it tries to page-lock with mlock (within
/// RLIMIT_MEMLOCK): staging on a machine without CUDA, locked like pinned memory
/// where it can be. page_locked() says whether every buffer so far was locked.
std::unique_ptr<host_allocator> make_locked_heap_host_allocator();

/// Page-locked memory from cudaHostAlloc. Fails with ec::unsupported in a build
/// without CUDA, and where the runtime finds no driver or no GPU.
caf::expected<std::unique_ptr<host_allocator>> make_pinned_host_allocator();

} // namespace tessera::cuda
