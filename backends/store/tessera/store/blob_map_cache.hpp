// Mappings of blob files kept open for the next reads (decision 34).
//
// A copy-mode load must copy each blob out of the page cache. pread's copy runs
// in the kernel, page by page, and each blob costs an open, a few system calls
// and a close; a copy out of a mapping the process already holds is the C
// library's vectorized memcpy, with no system call per chunk. Here that made
// verified warm loads of the zoo 1.2-1.4x faster into new device memory and
// 1.5-1.6x into kept memory (bench tiers). A mapping costs its page tables and
// an unmap, which one read does not repay, so blobs are mapped after their
// first read and the mappings are kept, least recently used first out, up to a
// byte capacity.
//
// A kept mapping is used only for the very file version it maps; a replaced
// or rewritten file is mapped anew. Where the blob's folder is watched
// (blob_watch, decision 38), a change to the file or its path drops the
// mapping before the next read; elsewhere every read compares a stat of the
// blob's path with the version mapped (device, inode, size, modification and
// change times). Mapped
// page-cache pages count in the process's RSS as file pages, stay reclaimable
// by the kernel, and are not dropped by POSIX_FADV_DONTNEED until unmapped
// (clear()).
#pragma once

#include "tessera/core/content_id.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <sys/stat.h>

namespace tessera::store {

class blob_watch;

/// What a store keeps mapped unless told otherwise (node key map_cache_bytes).
constexpr uint64_t default_map_cache_bytes = 512ull << 20;

class blob_map_cache {
public:
  /// One file version mapped read-only: all of it, header page included.
  struct mapping {
    std::shared_ptr<const std::byte> base;
    uint64_t file_bytes = 0;
  };

  struct stats {
    uint64_t hits = 0;   ///< reads served from a kept mapping
    uint64_t mapped = 0; ///< mappings made (a first read, or the file changed)
    uint64_t mappings = 0;
    uint64_t mapped_bytes = 0;
    uint64_t watched = 0; ///< mappings whose folder is watched: read with no stat()
  };

  /// Fills `st` with a stat() of the blob's file as its path names it now;
  /// false when there is none.
  using stat_fn = std::function<bool(struct stat& st)>;

  /// `blobs_dir` holds the mapped files, in folders watched for changes; with
  /// none, every read stats its file.
  explicit blob_map_cache(uint64_t capacity_bytes, std::string blobs_dir = {});
  ~blob_map_cache();

  /// The kept mapping of blob `id` if it maps the file its path names now;
  /// nothing otherwise. Outside watched folders it calls `stat_now`.
  std::optional<mapping> find(const content_id& id, const stat_fn& stat_now);

  /// Whether a mapping of blob `id` is kept, of whichever file version: a
  /// hint, which neither checks the file nor counts as a use.
  bool holds(const content_id& id) const;

  /// Maps `fd` and keeps the mapping for `id` in place of any older one,
  /// unmapping the least recently used beyond capacity, unless `stat_now`
  /// shows that the blob's path no longer names the file `fd` has open. With
  /// MAP_POPULATE: the caller has just read the file, so its pages are cached
  /// and the page tables are filled at once rather than one fault at a time.
  void keep(const content_id& id, int fd, const stat_fn& stat_now);

  /// Whether folders are watched where their file system allows it (the
  /// default); off, every read stats its file, as on network file systems.
  void set_watching(bool on);

  /// Drops the mapping of `id` (a blob found corrupt, or removed).
  void forget(const content_id& id);

  /// Unmaps everything (before dropping the page cache, as bench tiers does).
  void clear();

  /// Unmaps the least recently used mappings until at least `bytes` are
  /// unmapped, or none is left; returns the bytes unmapped. The capacity
  /// stays: later reads map again (a node over its host memory budget).
  uint64_t release(uint64_t bytes);

  void set_capacity(uint64_t bytes);
  uint64_t capacity() const;
  stats counts() const;

private:
  struct file_version {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const file_version& o) const {
      return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns &&
             ctime_ns == o.ctime_ns;
    }
  };
  struct entry {
    file_version version;
    mapping map;
    std::list<content_id>::iterator lru;
    bool watched = false; ///< changes to its file are told by watch_
  };
  using entry_map = std::unordered_map<content_id, entry>;
  static file_version version_of(const struct stat& st);
  // With mtx_ held:
  void shrink_to(uint64_t bytes);
  void erase(entry_map::iterator i);
  void apply_changes(); ///< drops the mappings whose files changed
  mapping hit(entry_map::iterator i);

  mutable std::mutex mtx_;
  std::atomic<uint64_t> capacity_; ///< read without the lock on every read_into
  uint64_t bytes_ = 0;
  std::list<content_id> lru_; ///< most recently used first
  entry_map entries_;
  uint64_t hits_ = 0;
  uint64_t mapped_ = 0;
  uint64_t watched_ = 0;
  std::unique_ptr<blob_watch> watch_; ///< null: no folder is watched
  bool watching_ = true;
};

} // namespace tessera::store
