#include "tessera/cuda/pinned_staging_pool.hpp"

#include "tessera/core/error.hpp"

namespace tessera::cuda {

staging_lease::staging_lease(staging_lease&& other) noexcept
    : pool_(other.pool_), data_(other.data_), bytes_(other.bytes_) {
  other.pool_ = nullptr;
  other.data_ = nullptr;
  other.bytes_ = 0;
}

staging_lease& staging_lease::operator=(staging_lease&& other) noexcept {
  if (this != &other) {
    give_back();
    pool_ = other.pool_;
    data_ = other.data_;
    bytes_ = other.bytes_;
    other.pool_ = nullptr;
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

staging_lease::~staging_lease() {
  give_back();
}

void staging_lease::give_back() {
  if (pool_ != nullptr && data_ != nullptr)
    pool_->give_back(data_);
  pool_ = nullptr;
  data_ = nullptr;
  bytes_ = 0;
}

pinned_staging_pool::pinned_staging_pool(std::unique_ptr<host_allocator> allocator,
                                         size_t buffer_bytes)
    : allocator_(std::move(allocator)), buffer_bytes_(buffer_bytes) {
  // nop
}

caf::expected<std::unique_ptr<pinned_staging_pool>>
pinned_staging_pool::make(std::unique_ptr<host_allocator> allocator, size_t buffers,
                          size_t buffer_bytes) {
  if (allocator == nullptr || buffers == 0 || buffer_bytes == 0)
    return make_error(ec::invalid_argument,
                      "staging pool: needs an allocator, buffers > 0 and bytes > 0");
  std::unique_ptr<pinned_staging_pool> pool{
      new pinned_staging_pool(std::move(allocator), buffer_bytes)};
  for (size_t i = 0; i < buffers; ++i) {
    auto p = pool->allocator_->allocate(buffer_bytes);
    if (!p) // the destructor frees the buffers allocated so far
      return wrap(p.error(), "staging pool (" + pool->allocator_->name() + ", buffer " +
                                 std::to_string(i + 1) + " of " + std::to_string(buffers) + ")");
    pool->all_.push_back(*p);
  }
  pool->free_ = pool->all_;
  return pool;
}

pinned_staging_pool::~pinned_staging_pool() {
  for (auto* p : all_)
    allocator_->deallocate(p, buffer_bytes_);
}

staging_lease pinned_staging_pool::lend_locked() {
  staging_lease out;
  out.pool_ = this;
  out.data_ = free_.back();
  out.bytes_ = buffer_bytes_;
  free_.pop_back();
  ++acquisitions_;
  return out;
}

staging_lease pinned_staging_pool::acquire() {
  std::unique_lock<std::mutex> lock{mtx_};
  if (free_.empty()) {
    ++waits_;
    cv_.wait(lock, [this] { return !free_.empty(); });
  }
  return lend_locked();
}

std::vector<staging_lease> pinned_staging_pool::acquire_many(size_t n) {
  n = std::min(n, all_.size());
  std::unique_lock<std::mutex> lock{mtx_};
  if (free_.size() < n) {
    ++waits_;
    cv_.wait(lock, [this, n] { return free_.size() >= n; });
  }
  std::vector<staging_lease> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(lend_locked());
  return out;
}

staging_lease pinned_staging_pool::try_acquire_for(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mtx_};
  if (free_.empty()) {
    ++waits_;
    if (!cv_.wait_for(lock, timeout, [this] { return !free_.empty(); }))
      return {};
  }
  return lend_locked();
}

staging_pool_figures pinned_staging_pool::figures() const {
  std::lock_guard<std::mutex> guard{mtx_};
  staging_pool_figures f;
  f.buffers = all_.size();
  f.buffer_bytes = buffer_bytes_;
  f.lent = all_.size() - free_.size();
  f.acquisitions = acquisitions_;
  f.waits = waits_;
  f.page_locked = allocator_->page_locked();
  return f;
}

void pinned_staging_pool::give_back(std::byte* data) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    free_.push_back(data);
  }
  cv_.notify_all(); // a waiter may need several buffers
}

} // namespace tessera::cuda
