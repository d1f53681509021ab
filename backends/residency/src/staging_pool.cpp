#include "tessera/residency/staging_pool.hpp"

#include <cstdlib>
#include <new>

#include <sys/mman.h>

namespace tessera::residency {

staging_buffer::staging_buffer(staging_buffer&& other) noexcept
  : pool_(other.pool_), data_(other.data_), bytes_(other.bytes_) {
  other.pool_ = nullptr;
  other.data_ = nullptr;
}

staging_buffer& staging_buffer::operator=(staging_buffer&& other) noexcept {
  if (this != &other) {
    if (pool_ != nullptr)
      pool_->give_back(data_);
    pool_ = other.pool_;
    data_ = other.data_;
    bytes_ = other.bytes_;
    other.pool_ = nullptr;
    other.data_ = nullptr;
  }
  return *this;
}

staging_buffer::~staging_buffer() {
  if (pool_ != nullptr)
    pool_->give_back(data_);
}

staging_pool::staging_pool(size_t buffers, size_t buffer_bytes) : buffer_bytes_(buffer_bytes) {
  locked_ = true;
  for (size_t i = 0; i < std::max<size_t>(buffers, 1); ++i) {
    void* p = std::aligned_alloc(4096, (buffer_bytes + 4095) / 4096 * 4096);
    if (p == nullptr)
      throw std::bad_alloc{};
    // Page-locking needs RLIMIT_MEMLOCK headroom; without it the pool still works.
    locked_ = locked_ && ::mlock(p, buffer_bytes) == 0;
    all_.push_back(static_cast<std::byte*>(p));
  }
  free_ = all_;
}

staging_pool::~staging_pool() {
  for (auto* p : all_) {
    ::munlock(p, buffer_bytes_);
    std::free(p);
  }
}

staging_buffer staging_pool::acquire() {
  std::unique_lock<std::mutex> lock{mtx_};
  cv_.wait(lock, [this] { return !free_.empty(); });
  staging_buffer out;
  out.pool_ = this;
  out.data_ = free_.back();
  out.bytes_ = buffer_bytes_;
  free_.pop_back();
  return out;
}

uint64_t staging_pool::bytes_in_use() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return static_cast<uint64_t>(all_.size() - free_.size()) * buffer_bytes_;
}

void staging_pool::give_back(std::byte* data) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    free_.push_back(data);
  }
  cv_.notify_one();
}

} // namespace tessera::residency
