// A host allocator for tests: heap memory, with counts of what was allocated
// and freed, and a failure injected at the Nth allocation.
#pragma once

#include "tessera/core/error.hpp"
#include "tessera/cuda/host_allocator.hpp"

#include <atomic>
#include <memory>

namespace tessera::test {

struct host_allocation_counts {
  std::atomic<int> allocations{0};
  std::atomic<int> deallocations{0};
};

class counting_host_allocator final : public cuda::host_allocator {
public:
  /// `fail_at`: the 1-based allocation that fails (0: none).
  counting_host_allocator(std::shared_ptr<host_allocation_counts> counts, int fail_at = 0)
      : heap_(cuda::make_heap_host_allocator()), counts_(std::move(counts)), fail_at_(fail_at) {
    // nop
  }

  std::string name() const override {
    return "counting heap";
  }

  bool page_locked() const override {
    return false;
  }

  caf::expected<std::byte*> allocate(size_t bytes) override {
    if (++calls_ == fail_at_)
      return make_error(ec::out_of_memory, "injected failure");
    ++counts_->allocations;
    return heap_->allocate(bytes);
  }

  void deallocate(std::byte* data, size_t bytes) override {
    ++counts_->deallocations;
    heap_->deallocate(data, bytes);
  }

private:
  std::unique_ptr<cuda::host_allocator> heap_;
  std::shared_ptr<host_allocation_counts> counts_;
  int fail_at_;
  int calls_ = 0;
};

} // namespace tessera::test
