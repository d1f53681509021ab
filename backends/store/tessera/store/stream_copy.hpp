// Copies into memory that is not read again soon (a tensor block, a staging
// buffer), with stores that go around the cache on x86-64.
#pragma once

#include <cstddef>

namespace tessera::store {

/// Copies `bytes` from `src` to `dst`, which must not overlap. On x86-64,
/// copies of at least `stream_copy_min_bytes` use non-temporal stores: the
/// destination's cache lines are not read from memory first (a plain copy
/// reads each one before it writes it) and do not push the source out of
/// the cache. The stores are fenced before it returns, so another thread
/// that is handed `dst` afterwards sees every byte. Elsewhere, and for
/// smaller copies, it is `std::memcpy`.
void stream_copy(std::byte* dst, const std::byte* src, size_t bytes);

/// Copies below this size go through `std::memcpy`: a few cache lines are
/// cheaper to write through the cache, and are likely read soon.
inline constexpr size_t stream_copy_min_bytes = 16u << 10;

} // namespace tessera::store
