// The set of blobs resident in host memory on this node, shared by every loaded
// model: a blob that one model holds is handed to the next without being read
// again. Entries live as long as some model holds them. Counters record hits,
// misses and bytes read, which is how sharing is measured.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/core/tensor_buffer.hpp"
#include "tessera/store/blob_store.hpp"

#include <caf/expected.hpp>

#include <mutex>
#include <unordered_map>

namespace tessera::store {

struct blob_cache_stats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t bytes_read = 0;
  uint64_t resident_blobs = 0;
  uint64_t resident_bytes = 0;
};

class blob_cache {
public:
  blob_cache(const blob_store& store, read_method method, bool verify);

  /// Returns the resident blob, or reads it from the store.
  caf::expected<tensor_buffer> acquire(const content_id& id);

  /// True when some holder keeps the blob in memory.
  bool resident(const content_id& id) const;

  blob_cache_stats stats() const;

  /// Zeroes hits, misses and bytes_read.
  void reset_counters();

  /// Drops the cache's own bookkeeping of blobs nobody holds any more.
  void forget_released();

private:
  struct entry {
    tensor_spec spec;
    const std::byte* data = nullptr;
    size_t bytes = 0;
    std::weak_ptr<const void> owner;
  };

  const blob_store& store_;
  read_method method_;
  bool verify_;
  mutable std::mutex mtx_;
  std::unordered_map<content_id, entry> entries_;
  blob_cache_stats counters_;
};

} // namespace tessera::store
