#include "tessera/residency/host_memory.hpp"

#include <algorithm>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tessera::residency {

namespace {

// Gives the heap's free memory back to the system; false where the C library
// cannot.
bool return_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
  return true;
#else
  return false;
#endif
}

} // namespace

host_memory_keeper::host_memory_keeper(residency_manager& mgr, backend::device_memory& device,
                                       store::blob_map_cache& mappings,
                                       std::function<uint64_t()> request_bytes,
                                       host_memory_options opts, bool start_thread)
    : mgr_(mgr), device_(device), mappings_(mappings), request_bytes_(std::move(request_bytes)),
      opts_(opts) {
  stats_.budget_bytes = opts_.budget_bytes;
  if (start_thread)
    thread_ = std::thread{[this] { loop(); }};
}

host_memory_keeper::~host_memory_keeper() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

host_memory_parts host_memory_keeper::measure() const {
  host_memory_parts p;
  p.mapped_files = mappings_.counts().mapped_bytes;
  if (device_.host_accessible()) {
    p.kept_device = device_.cached_bytes();
    p.kept_blocks = mgr_.stats().device.cached_bytes;
  }
  p.request_buffers = request_bytes_ ? request_bytes_() : 0;
  return p;
}

uint64_t host_memory_keeper::pass() {
  std::lock_guard<std::mutex> serial{pass_mtx_};
  auto now = measure();
  host_memory_parts trimmed;
  bool over = opts_.budget_bytes > 0 && now.total() > opts_.budget_bytes;
  if (over) {
    auto excess = [&] {
      auto total = now.total();
      return total > opts_.budget_bytes ? total - opts_.budget_bytes : 0;
    };
    trimmed.mapped_files = mappings_.release(excess());
    now = measure();
    if (excess() > 0 && now.kept_device > 0) {
      trimmed.kept_device += device_.trim();
      now = measure();
    }
    if (excess() > 0 && now.kept_blocks > 0) {
      trimmed.kept_blocks = mgr_.drop_cached(excess());
      // Freed blocks may land in the device's cache: give those back too.
      if (device_.host_accessible())
        trimmed.kept_device += device_.trim();
      now = measure();
    }
  }
  // A burst of request buffers that has drained leaves freed heap behind.
  bool drained = burst_peak_ >= opts_.burst_bytes && now.request_buffers <= burst_peak_ / 4;
  bool returned = drained && return_heap();
  burst_peak_ = returned ? now.request_buffers : std::max(burst_peak_, now.request_buffers);
  std::lock_guard<std::mutex> guard{mtx_};
  stats_.now = now;
  stats_.trimmed.mapped_files += trimmed.mapped_files;
  stats_.trimmed.kept_device += trimmed.kept_device;
  stats_.trimmed.kept_blocks += trimmed.kept_blocks;
  stats_.over_budget += over ? 1 : 0;
  stats_.heap_returns += returned ? 1 : 0;
  return trimmed.total();
}

host_memory_stats host_memory_keeper::stats() const {
  auto now = measure();
  std::lock_guard<std::mutex> guard{mtx_};
  auto out = stats_;
  out.now = now;
  return out;
}

void host_memory_keeper::loop() {
  std::unique_lock<std::mutex> lock{mtx_};
  while (!stop_) {
    lock.unlock();
    pass();
    lock.lock();
    cv_.wait_for(lock, opts_.period, [this] { return stop_; });
  }
}

} // namespace tessera::residency
