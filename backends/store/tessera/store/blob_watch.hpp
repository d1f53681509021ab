// Tells which blob files of a store changed, through inotify, so that a kept
// mapping (blob_map_cache) can be trusted without a stat() of its file at every
// read (decision 38). The kernel queues an event before the change's system
// call returns, so a reader that drains the queue first sees every change made
// before its read began.
//
// Not thread-safe: blob_map_cache uses it under its own lock.
#pragma once

#include "tessera/core/content_id.hpp"

#include <string>
#include <unordered_map>
#include <vector>

namespace tessera::store {

/// Whether inotify reports every change under `path`: false where it does
/// not exist, or lies on a network or FUSE file system (changes made on
/// another machine, or by a daemon, reach no watch here).
bool inotify_sees_changes(const std::string& path);

class blob_watch {
public:
  /// Watches nothing until watch() is called; `blobs_dir` holds the
  /// <2 hex>/<id>.blob files.
  explicit blob_watch(std::string blobs_dir);
  ~blob_watch();

  blob_watch(const blob_watch&) = delete;
  blob_watch& operator=(const blob_watch&) = delete;

  /// Starts watching the folder that holds blob `id` (and the blobs folder,
  /// for folders replaced or removed). False where changes there cannot be
  /// seen: inotify is unavailable or out of watches, or the store is on a
  /// network or FUSE file system, whose changes made elsewhere inotify never
  /// reports. The caller then checks the file itself at each read.
  bool watch(const content_id& id);

  /// What changed since the last drain.
  struct changes {
    std::vector<content_id> blobs; ///< files changed, replaced or removed
    std::vector<int> folders;      ///< first bytes of ids whose whole folder changed
    bool everything = false;       ///< events were lost, or the blobs folder changed
  };

  /// Reads the events queued so far (one system call when there are none);
  /// valid until the next call. Folders reported whole are no longer
  /// watched; watch() them again.
  const changes& drain();

  /// Stops watching every folder.
  void clear();

  /// Whether folders of this store can be watched at all (see watch()).
  bool usable();

  /// The folder of blob `id`, as changes::folders names it: its first byte.
  static int folder_of(const content_id& id) {
    return static_cast<int>(id.hi >> 56);
  }

private:
  bool open(); // the inotify descriptor and the blobs folder's watch
  void forget_folder(int wd, changes& out);

  std::string dir_;
  changes changes_; ///< what drain() reports, its storage reused
  int fd_ = -1;
  int dir_wd_ = -1;
  int usable_ = -1;                        ///< -1: not yet known
  std::unordered_map<int, int> folder_by_wd_; ///< watch descriptor -> first id byte
  int wd_by_folder_[256];                     ///< first id byte -> watch descriptor, or -1
};

} // namespace tessera::store
