// Streams host bytes into device memory through a few staging buffers on one
// copy stream. While chunk k is in flight, the host fills chunk k+1 (reads the
// file, hashes it) into the next buffer; a buffer is written again only after
// the event recorded behind its last copy has completed. With `depth` buffers,
// at most `depth` copies are in flight, and the host waits (back-pressure)
// when it runs that far ahead of the copy engine.
#pragma once

#include "tessera/cuda/copy_engine.hpp"
#include "tessera/cuda/pinned_staging_pool.hpp"

#include <functional>
#include <optional>
#include <vector>

namespace tessera::cuda {

/// What a copier did, for tests and benchmarks.
struct staged_copy_figures {
  uint64_t chunks = 0;      ///< copies enqueued
  uint64_t bytes = 0;       ///< bytes enqueued
  uint64_t reuse_waits = 0; ///< times the host waited for a buffer's copy to finish
  size_t max_in_flight = 0; ///< most buffers whose copy had not been seen complete
};

class staged_copier {
public:
  /// Writes the chunk at `offset` (of `n` bytes) of the source into `buffer`.
  using fill_fn = std::function<caf::error(std::byte* buffer, uint64_t offset, size_t n)>;

  /// Borrows `depth` buffers (at most the pool's size) from `pool` at once,
  /// waiting while other loads hold them. `engine` and `pool` must outlive it.
  staged_copier(copy_engine& engine, pinned_staging_pool& pool, size_t depth = 2);

  /// Waits for every copy still in flight before the buffers go back.
  ~staged_copier();

  staged_copier(const staged_copier&) = delete;
  staged_copier& operator=(const staged_copier&) = delete;

  /// Enqueues `bytes` into device memory at `dst`, one buffer-sized chunk at a
  /// time, in order. Returns once the last chunk is enqueued, not copied.
  caf::error copy(std::byte* dst, uint64_t bytes, const fill_fn& fill);

  /// Records an event behind every copy enqueued so far, for the compute
  /// stream to wait on. The caller releases it.
  caf::expected<copy_event> mark();

  /// Waits until every copy enqueued so far has completed.
  caf::error flush();

  const staged_copy_figures& figures() const {
    return figures_;
  }

private:
  struct slot {
    staging_lease buffer;
    std::optional<copy_event> pending; ///< recorded behind this buffer's last copy
  };

  /// Makes `s`'s buffer writable: waits for its last copy and forgets the event.
  caf::error settle(slot& s, bool count_wait);
  size_t in_flight() const;

  copy_engine& engine_;
  std::vector<slot> slots_;
  size_t next_ = 0;
  staged_copy_figures figures_;
};

} // namespace tessera::cuda
