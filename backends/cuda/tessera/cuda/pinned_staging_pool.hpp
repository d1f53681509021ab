// A bounded pool of staging buffers, allocated once and reused by every load
// (cudaHostAlloc is slow: it maps and locks pages, so paying it per load would
// cost more than the copy). Acquiring waits while every buffer is lent out:
// that back-pressure bounds the host memory that concurrent loads take.
#pragma once

#include "tessera/cuda/host_allocator.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace tessera::cuda {

class pinned_staging_pool;

/// One borrowed buffer; it goes back to its pool when the lease is dropped.
/// The pool must outlive its leases.
class staging_lease {
public:
  staging_lease() = default;
  staging_lease(staging_lease&& other) noexcept;
  staging_lease& operator=(staging_lease&& other) noexcept;
  ~staging_lease();

  std::byte* data() const {
    return data_;
  }

  size_t bytes() const {
    return bytes_;
  }

  explicit operator bool() const {
    return data_ != nullptr;
  }

private:
  friend class pinned_staging_pool;
  void give_back();

  pinned_staging_pool* pool_ = nullptr;
  std::byte* data_ = nullptr;
  size_t bytes_ = 0;
};

/// What the pool has done, for `tessera status` and tests.
struct staging_pool_figures {
  size_t buffers = 0;
  size_t buffer_bytes = 0;
  size_t lent = 0;           ///< buffers lent out right now
  uint64_t acquisitions = 0; ///< leases handed out since the start
  uint64_t waits = 0;        ///< acquisitions that had to wait for a buffer
  bool page_locked = false;
};

class pinned_staging_pool {
public:
  /// Allocates all `buffers` buffers of `buffer_bytes` now; the pool never grows.
  static caf::expected<std::unique_ptr<pinned_staging_pool>>
  make(std::unique_ptr<host_allocator> allocator, size_t buffers, size_t buffer_bytes);

  ~pinned_staging_pool();

  pinned_staging_pool(const pinned_staging_pool&) = delete;
  pinned_staging_pool& operator=(const pinned_staging_pool&) = delete;

  /// Lends a buffer, waiting while all are lent out.
  staging_lease acquire();

  /// Lends `n` buffers at once (at most buffers()), waiting until that many are
  /// free. All at once, so two borrowers that each hold some and wait for more
  /// cannot deadlock.
  std::vector<staging_lease> acquire_many(size_t n);

  /// Lends a buffer if one frees up within `timeout`; an empty lease otherwise.
  staging_lease try_acquire_for(std::chrono::milliseconds timeout);

  size_t buffers() const {
    return all_.size();
  }

  size_t buffer_bytes() const {
    return buffer_bytes_;
  }

  /// Bytes of all buffers: the host tier's fixed staging cost.
  uint64_t total_bytes() const {
    return static_cast<uint64_t>(buffer_bytes_) * all_.size();
  }

  staging_pool_figures figures() const;

private:
  friend class staging_lease;

  pinned_staging_pool(std::unique_ptr<host_allocator> allocator, size_t buffer_bytes);
  staging_lease lend_locked();
  void give_back(std::byte* data);

  std::unique_ptr<host_allocator> allocator_;
  size_t buffer_bytes_;
  std::vector<std::byte*> all_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::byte*> free_;
  uint64_t acquisitions_ = 0;
  uint64_t waits_ = 0;
};

} // namespace tessera::cuda
