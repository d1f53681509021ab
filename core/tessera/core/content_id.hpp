// 128-bit content ids (xxh3-128) for tensor blobs, parameter blocks and skeletons.
// A blob id hashes dtype, shape and bytes, so equal tensors in different models get
// the same id and are stored once; a parameter block id hashes its blobs' ids.
#pragma once

#include "tessera/core/tensor_spec.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

struct content_id {
  uint64_t hi = 0;
  uint64_t lo = 0;

  bool empty() const {
    return hi == 0 && lo == 0;
  }

  /// 32 lowercase hex digits, high half first.
  std::string to_hex() const;
  /// The same 32 hex digits into `out` (no terminator), without allocating.
  void write_hex(char* out) const;

  /// The first `n` hex digits, for logs and tables.
  std::string short_hex(size_t n = 12) const;

  friend bool operator==(const content_id& a, const content_id& b) {
    return a.hi == b.hi && a.lo == b.lo;
  }
  friend bool operator!=(const content_id& a, const content_id& b) {
    return !(a == b);
  }
  friend bool operator<(const content_id& a, const content_id& b) {
    return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
  }
};

/// Parses 32 hex digits; errors quote the text.
caf::expected<content_id> parse_content_id(std::string_view hex);

/// Id of a tensor blob: xxh3-128 over dtype code, rank, dims and the raw bytes.
content_id blob_id_of(const tensor_spec& spec, const void* data, size_t bytes);

/// Id of a parameter block: xxh3-128 over its blob ids, in binding order.
content_id block_id_of(const std::vector<content_id>& blob_ids);

/// Id of a skeleton: xxh3-128 over its kind tag and its bytes.
content_id skeleton_id_of(std::string_view kind, std::string_view bytes);

/// Streaming xxh3-128 over a blob, for verifying data as it is read.
class blob_hasher {
public:
  explicit blob_hasher(const tensor_spec& spec);
  ~blob_hasher();
  blob_hasher(const blob_hasher&) = delete;
  blob_hasher& operator=(const blob_hasher&) = delete;

  void update(const void* data, size_t bytes);
  content_id digest() const;

private:
  /// XXH3's state, held inline: a loader makes one per blob, most of a few
  /// KiB, and a heap allocation each would cost more than hashing them.
  alignas(64) unsigned char state_[576];
};

} // namespace tessera

template <>
struct std::hash<tessera::content_id> {
  size_t operator()(const tessera::content_id& id) const noexcept {
    return static_cast<size_t>(id.lo ^ (id.hi * 0x9e3779b97f4a7c15ULL));
  }
};
