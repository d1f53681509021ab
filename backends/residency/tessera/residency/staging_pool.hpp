// A bounded pool of host buffers that copy-mode loads read blobs through on their
// way to device memory. On a discrete GPU they are page-locked so that copies are
// DMA transfers; the pool tries to lock them on the CPU too (and reports whether
// it could). Bounding the pool bounds the host memory that loads take.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace tessera::residency {

class staging_pool;

/// One borrowed buffer; it goes back to the pool on destruction.
class staging_buffer {
public:
  staging_buffer() = default;
  staging_buffer(staging_buffer&& other) noexcept;
  staging_buffer& operator=(staging_buffer&& other) noexcept;
  ~staging_buffer();

  std::byte* data() const {
    return data_;
  }
  size_t bytes() const {
    return bytes_;
  }

private:
  friend class staging_pool;
  staging_pool* pool_ = nullptr;
  std::byte* data_ = nullptr;
  size_t bytes_ = 0;
};

class staging_pool {
public:
  staging_pool(size_t buffers, size_t buffer_bytes);
  ~staging_pool();

  staging_pool(const staging_pool&) = delete;
  staging_pool& operator=(const staging_pool&) = delete;

  /// Waits until a buffer is free and lends it.
  staging_buffer acquire();

  size_t buffer_bytes() const {
    return buffer_bytes_;
  }

  /// Bytes of all buffers (the host tier's fixed staging cost).
  uint64_t total_bytes() const {
    return static_cast<uint64_t>(buffer_bytes_) * all_.size();
  }

  /// Bytes of buffers lent out right now.
  uint64_t bytes_in_use() const;

  /// Whether the buffers are page-locked.
  bool locked() const {
    return locked_;
  }

private:
  friend class staging_buffer;
  void give_back(std::byte* data);

  size_t buffer_bytes_;
  bool locked_ = false;
  std::vector<std::byte*> all_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::byte*> free_;
};

} // namespace tessera::residency
