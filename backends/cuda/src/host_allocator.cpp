#include "tessera/cuda/host_allocator.hpp"

#include "tessera/core/error.hpp"

#include <cstdlib>

namespace tessera::cuda {

namespace {

constexpr size_t page_bytes = 4096;

class heap_host_allocator final : public host_allocator {
public:
  std::string name() const override {
    return "heap";
  }

  bool page_locked() const override {
    return false;
  }

  caf::expected<std::byte*> allocate(size_t bytes) override {
    size_t rounded = (std::max<size_t>(bytes, 1) + page_bytes - 1) / page_bytes * page_bytes;
    void* p = std::aligned_alloc(page_bytes, rounded);
    if (p == nullptr)
      return make_error(ec::out_of_memory,
                        "heap: cannot allocate " + std::to_string(bytes) + " bytes");
    return static_cast<std::byte*>(p);
  }

  void deallocate(std::byte* data, size_t) override {
    std::free(data);
  }
};

} // namespace

std::unique_ptr<host_allocator> make_heap_host_allocator() {
  return std::make_unique<heap_host_allocator>();
}

} // namespace tessera::cuda
