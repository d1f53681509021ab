// The device memory that whole-model serving's executors on one node share
// (docs/whole-model-serving.md): a budget, the bytes loaded models hold, and
// the most they held at once. A load reserves its model's bytes before it
// reads the file, so the budget is never passed, even for a moment.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>

namespace tessera::backend {

class whole_model_memory {
public:
  explicit whole_model_memory(uint64_t budget_bytes) : budget_(budget_bytes) {
    // nop
  }

  /// Takes `bytes` of the budget; false (nothing taken) when they do not fit.
  bool reserve(uint64_t bytes) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (bytes > budget_ - std::min(budget_, used_))
      return false;
    used_ += bytes;
    peak_ = std::max(peak_, used_);
    return true;
  }

  void release(uint64_t bytes) {
    std::lock_guard<std::mutex> guard{mtx_};
    used_ -= std::min(used_, bytes);
  }

  uint64_t budget() const {
    return budget_;
  }

  uint64_t used() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return used_;
  }

  uint64_t peak() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return peak_;
  }

private:
  mutable std::mutex mtx_;
  const uint64_t budget_;
  uint64_t used_ = 0;
  uint64_t peak_ = 0;
};

} // namespace tessera::backend
