#include "tessera/cuda/host_allocator.hpp"

#include "tessera/core/error.hpp"

#include <atomic>
#include <cstdlib>

#include <sys/mman.h>

namespace tessera::cuda {

namespace {

constexpr size_t page_bytes = 4096;

size_t page_rounded(size_t bytes) {
  return (std::max<size_t>(bytes, 1) + page_bytes - 1) / page_bytes * page_bytes;
}

class heap_host_allocator : public host_allocator {
public:
  std::string name() const override {
    return "heap";
  }

  bool page_locked() const override {
    return false;
  }

  caf::expected<std::byte*> allocate(size_t bytes) override {
    void* p = std::aligned_alloc(page_bytes, page_rounded(bytes));
    if (p == nullptr)
      return make_error(ec::out_of_memory,
                        "heap: cannot allocate " + std::to_string(bytes) + " bytes");
    return static_cast<std::byte*>(p);
  }

  void deallocate(std::byte* data, size_t) override {
    std::free(data);
  }
};

class locked_heap_host_allocator final : public heap_host_allocator {
public:
  std::string name() const override {
    return "mlocked heap";
  }

  bool page_locked() const override {
    return locked_;
  }

  caf::expected<std::byte*> allocate(size_t bytes) override {
    auto p = heap_host_allocator::allocate(bytes);
    // Without RLIMIT_MEMLOCK headroom the buffer still works, only unlocked.
    if (p && ::mlock(*p, page_rounded(bytes)) != 0)
      locked_ = false;
    return p;
  }

  void deallocate(std::byte* data, size_t bytes) override {
    ::munlock(data, page_rounded(bytes));
    heap_host_allocator::deallocate(data, bytes);
  }

private:
  std::atomic<bool> locked_{true};
};

} // namespace

std::unique_ptr<host_allocator> make_heap_host_allocator() {
  return std::make_unique<heap_host_allocator>();
}

std::unique_ptr<host_allocator> make_locked_heap_host_allocator() {
  return std::make_unique<locked_heap_host_allocator>();
}

} // namespace tessera::cuda
