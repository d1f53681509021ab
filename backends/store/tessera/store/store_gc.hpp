// Removing what no model needs, without racing what is being written:
// `tessera store gc`, `tessera models rm`, and the cleanup of a failed import.
// Writers of blobs that no manifest names yet (an import, a zoo build) hold the
// store's lock shared until their manifest is stored; a collection holds it
// exclusively, so it never deletes the blobs of an import in progress.
#pragma once

#include "tessera/store/block_store.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <vector>

namespace tessera::store {

/// flock(2) on <root>/gc.lock, released when the guard goes.
class store_lock {
public:
  enum class mode { write, collect };

  /// Waits for the lock unless `wait` is false; then an error (ec::unavailable)
  /// says what holds it.
  static caf::expected<store_lock> take(const block_store& store, mode m, bool wait = true);

  store_lock(store_lock&& other) noexcept;
  store_lock& operator=(store_lock&& other) noexcept;
  store_lock(const store_lock&) = delete;
  store_lock& operator=(const store_lock&) = delete;
  ~store_lock();

private:
  explicit store_lock(int fd) : fd_(fd) {
    // nop
  }
  int fd_ = -1;
};

struct gc_report {
  size_t blobs = 0;
  size_t skeletons = 0;
  uint64_t bytes = 0; ///< the removed files' bytes
};

/// What a collection looks at: everything, or these blobs and skeletons only
/// (those of a removed model, or of a failed import).
struct gc_scope {
  std::optional<std::vector<content_id>> blobs;
  std::optional<std::vector<content_id>> skeletons;
};

/// Removes the blobs and skeletons in `scope` that no version of any stored
/// model uses. A manifest that does not read stops it before anything is
/// removed. The caller holds the collect lock.
caf::expected<gc_report> collect_garbage(const block_store& store, const gc_scope& scope = {});

} // namespace tessera::store
