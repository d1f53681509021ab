#include "tessera/cuda/caching_device_memory.hpp"

#include "tessera/core/error.hpp"

#include <map>
#include <mutex>
#include <unordered_map>

namespace tessera::cuda {

namespace {

constexpr size_t small_step_bytes = 512;
constexpr size_t small_limit_bytes = 1u << 20;
constexpr size_t large_step_bytes = 2u << 20;

/// A cached block is reused for a request at most this much smaller (1/8),
/// so a large free block is not spent on a small request.
bool fits(size_t cached, size_t wanted) {
  return cached >= wanted && cached - wanted <= wanted / 8;
}

} // namespace

size_t rounded_allocation_bytes(size_t bytes) {
  size_t step = bytes <= small_limit_bytes ? small_step_bytes : large_step_bytes;
  return (std::max<size_t>(bytes, 1) + step - 1) / step * step;
}

struct caching_device_memory::state {
  std::unique_ptr<device_runtime> runtime;
  device_cache_options opts;
  mutable std::mutex mtx;
  std::multimap<size_t, std::byte*> cache;     // rounded size -> block
  std::unordered_map<std::byte*, size_t> live; // block -> rounded size
  allocator_figures figures;

  ~state() {
    for (auto& [bytes, p] : cache)
      runtime->deallocate(p);
  }

  // Returns cached blocks to the runtime; with the lock held.
  uint64_t trim_locked() {
    uint64_t freed = 0;
    for (auto& [bytes, p] : cache) {
      runtime->deallocate(p);
      freed += bytes;
      ++figures.device_frees;
    }
    cache.clear();
    figures.cached_bytes = 0;
    figures.reserved_bytes = figures.live_bytes;
    figures.trimmed_bytes += freed;
    return freed;
  }

  void give_back(std::byte* p) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = live.find(p);
    if (i == live.end())
      return;
    size_t bytes = i->second;
    live.erase(i);
    figures.live_bytes -= bytes;
    if (figures.cached_bytes + bytes <= opts.cache_limit_bytes) {
      cache.emplace(bytes, p);
      figures.cached_bytes += bytes;
    } else {
      runtime->deallocate(p);
      ++figures.device_frees;
    }
    figures.reserved_bytes = figures.live_bytes + figures.cached_bytes;
  }
};

caching_device_memory::caching_device_memory(std::unique_ptr<device_runtime> runtime,
                                             device_cache_options opts)
    : state_(std::make_shared<state>()) {
  state_->runtime = std::move(runtime);
  state_->opts = opts;
}

caching_device_memory::~caching_device_memory() {
  // nop: blocks still held elsewhere keep the state (and the runtime) alive
}

std::string caching_device_memory::name() const {
  return state_->runtime->name();
}

bool caching_device_memory::host_accessible() const {
  return state_->runtime->host_accessible();
}

caf::expected<backend::device_block> caching_device_memory::allocate(size_t bytes) {
  size_t rounded = rounded_allocation_bytes(bytes);
  std::byte* p = nullptr;
  {
    std::lock_guard<std::mutex> guard{state_->mtx};
    auto& f = state_->figures;
    auto i = state_->cache.lower_bound(rounded);
    if (i != state_->cache.end() && fits(i->first, rounded)) {
      rounded = i->first;
      p = i->second;
      state_->cache.erase(i);
      f.cached_bytes -= rounded;
      ++f.cache_hits;
    } else {
      auto fresh = state_->runtime->allocate(rounded);
      if (!fresh && code_of(fresh.error()) == ec::out_of_memory && !state_->cache.empty()) {
        // The cache may hold what the driver lacks: give it back and retry once.
        state_->trim_locked();
        fresh = state_->runtime->allocate(rounded);
      }
      if (!fresh)
        return fresh.error();
      p = *fresh;
      ++f.device_allocations;
    }
    state_->live.emplace(p, rounded);
    f.live_bytes += rounded;
    f.reserved_bytes = f.live_bytes + f.cached_bytes;
  }
  backend::device_block out;
  out.data = p;
  out.bytes = bytes;
  auto s = state_; // blocks keep the allocator's state alive until they are freed
  out.owner = std::shared_ptr<void>(p, [s](void* q) { s->give_back(static_cast<std::byte*>(q)); });
  return out;
}

caf::error caching_device_memory::copy_from_host(std::byte* dst, const std::byte* src,
                                                 size_t bytes) {
  return state_->runtime->copy_from_host(dst, src, bytes);
}

caf::error caching_device_memory::copy_to_host(std::byte* dst, const std::byte* src, size_t bytes) {
  return state_->runtime->copy_to_host(dst, src, bytes);
}

caf::error caching_device_memory::synchronize() {
  return state_->runtime->synchronize();
}

uint64_t caching_device_memory::allocated_bytes() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->figures.live_bytes;
}

uint64_t caching_device_memory::cached_bytes() const {
  return figures().cached_bytes;
}

uint64_t caching_device_memory::trim() {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->trim_locked();
}

allocator_figures caching_device_memory::figures() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->figures;
}

caf::expected<driver_memory> caching_device_memory::driver_view() {
  return state_->runtime->memory_info();
}

caf::expected<std::unique_ptr<caching_device_memory>>
make_cuda_device_memory(int device, device_cache_options opts) {
  auto runtime = make_cuda_device_runtime(device);
  if (!runtime)
    return runtime.error();
  return std::make_unique<caching_device_memory>(std::move(*runtime), opts);
}

} // namespace tessera::cuda
