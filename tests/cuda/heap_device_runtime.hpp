// A device runtime for tests on a CPU: "device memory" is heap memory under a
// capacity, copies are memcpy, and the driver's view is computed from what is
// allocated. Counts are shared, so a test can read them after the runtime is gone.
#pragma once

#include "tessera/core/error.hpp"
#include "tessera/cuda/device_runtime.hpp"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace tessera::test {

struct heap_device_counts {
  std::mutex mtx;
  uint64_t live_bytes = 0;
  uint64_t allocations = 0;
  uint64_t frees = 0;
  uint64_t copies = 0;
  std::map<std::byte*, size_t> blocks;
};

class heap_device_runtime final : public cuda::device_runtime {
public:
  heap_device_runtime(std::shared_ptr<heap_device_counts> counts, uint64_t capacity_bytes)
      : counts_(std::move(counts)), capacity_bytes_(capacity_bytes) {
    // nop
  }

  std::string name() const override {
    return "heap:0";
  }

  bool host_accessible() const override {
    return false; // behaves as a discrete GPU: the residency manager stages copies
  }

  caf::expected<std::byte*> allocate(size_t bytes) override {
    std::lock_guard<std::mutex> guard{counts_->mtx};
    if (counts_->live_bytes + bytes > capacity_bytes_)
      return make_error(ec::out_of_memory, "heap device: full");
    auto* p = static_cast<std::byte*>(std::aligned_alloc(256, (bytes + 255) / 256 * 256));
    counts_->blocks.emplace(p, bytes);
    counts_->live_bytes += bytes;
    ++counts_->allocations;
    return p;
  }

  void deallocate(std::byte* data) override {
    std::lock_guard<std::mutex> guard{counts_->mtx};
    auto i = counts_->blocks.find(data);
    if (i == counts_->blocks.end())
      return;
    counts_->live_bytes -= i->second;
    counts_->blocks.erase(i);
    ++counts_->frees;
    std::free(data);
  }

  caf::error copy_from_host(std::byte* dst, const std::byte* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
    std::lock_guard<std::mutex> guard{counts_->mtx};
    ++counts_->copies;
    return {};
  }

  caf::error copy_to_host(std::byte* dst, const std::byte* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
    return {};
  }

  caf::error synchronize() override {
    return {};
  }

  caf::expected<cuda::driver_memory> memory_info() override {
    std::lock_guard<std::mutex> guard{counts_->mtx};
    return cuda::driver_memory{capacity_bytes_ - counts_->live_bytes, capacity_bytes_};
  }

private:
  std::shared_ptr<heap_device_counts> counts_;
  uint64_t capacity_bytes_;
};

} // namespace tessera::test
