// Page-locked staging memory from cudaHostAlloc: copies from it are DMA
// transfers that run asynchronously on a copy stream, at the bus's peak rate.
#include "tessera/cuda/host_allocator.hpp"

#include "cuda_status.hpp"

namespace tessera::cuda {

namespace {

class pinned_host_allocator final : public host_allocator {
public:
  std::string name() const override {
    return "cudaHostAlloc";
  }

  bool page_locked() const override {
    return true;
  }

  caf::expected<std::byte*> allocate(size_t bytes) override {
    void* p = nullptr;
    // Portable: usable by copies to every GPU, not only the current one.
    if (auto err = cuda_error(cudaHostAlloc(&p, bytes, cudaHostAllocPortable),
                              "cudaHostAlloc(" + std::to_string(bytes) + ")"))
      return err;
    return static_cast<std::byte*>(p);
  }

  void deallocate(std::byte* data, size_t) override {
    (void)cuda_error(cudaFreeHost(data), "cudaFreeHost");
  }
};

} // namespace

caf::expected<std::unique_ptr<host_allocator>> make_pinned_host_allocator() {
  int count = 0;
  // Without a driver cudaHostAlloc fails too; say why up front.
  if (auto err = cuda_error(cudaGetDeviceCount(&count), "pinned host memory: cudaGetDeviceCount"))
    return err;
  return std::unique_ptr<host_allocator>{std::make_unique<pinned_host_allocator>()};
}

} // namespace tessera::cuda
