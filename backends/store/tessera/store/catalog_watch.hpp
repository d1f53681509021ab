// Tells when a store's manifests or group definitions change, through
// inotify, on a thread of its own: <store>/models, each model's folder, and
// <store>/groups. A burst of changes (an import writes several files) is
// reported once, after the store has been quiet for a few milliseconds.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace tessera::store {

class catalog_watch {
public:
  /// Starts watching the store at `root`; `changed` is called on the watch's
  /// thread after each burst of changes.
  catalog_watch(std::string root, std::function<void()> changed);
  ~catalog_watch();

  catalog_watch(const catalog_watch&) = delete;
  catalog_watch& operator=(const catalog_watch&) = delete;

  /// False where changes cannot be seen (no inotify, out of watches, or a
  /// network or FUSE file system): the owner then reads the store again on
  /// a timer.
  bool watching() const {
    return watching_;
  }

private:
  void run();
  bool add_watches(); // the folders, and each model's folder; false when one fails

  std::string root_;
  std::function<void()> changed_;
  int fd_ = -1;
  int stop_fd_ = -1;
  bool watching_ = false;
  std::thread thread_;
};

} // namespace tessera::store
