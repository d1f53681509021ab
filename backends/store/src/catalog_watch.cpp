#include "tessera/store/catalog_watch.hpp"

#include "tessera/store/blob_watch.hpp"

#include <array>
#include <cerrno>
#include <filesystem>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

namespace tessera::store {

namespace {

/// Files written (atomically, by rename), replaced or removed in a folder,
/// and the folder itself made, replaced or gone.
constexpr uint32_t watched_events = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                    IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;

/// How long the store stays quiet before a burst of changes is reported.
constexpr int quiet_ms = 5;

} // namespace

catalog_watch::catalog_watch(std::string root, std::function<void()> changed)
    : root_(std::move(root)), changed_(std::move(changed)) {
  if (!inotify_sees_changes(root_))
    return;
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0 || stop_fd_ < 0 || !add_watches())
    return;
  watching_ = true;
  thread_ = std::thread([this] { run(); });
}

catalog_watch::~catalog_watch() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (fd_ >= 0)
    ::close(fd_);
  if (stop_fd_ >= 0)
    ::close(stop_fd_);
}

bool catalog_watch::add_watches() {
  namespace fs = std::filesystem;
  // The root, for models/ and groups/ made after the node started; adding
  // a watch again only refreshes it.
  if (::inotify_add_watch(fd_, root_.c_str(), IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0)
    return false;
  for (const char* sub : {"/models", "/groups"}) {
    auto dir = root_ + sub;
    std::error_code ec;
    if (fs::is_directory(dir, ec) && ::inotify_add_watch(fd_, dir.c_str(), watched_events) < 0)
      return false;
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{root_ + "/models", ec})
    if (entry.is_directory(ec) &&
        ::inotify_add_watch(fd_, entry.path().c_str(), watched_events | IN_ONLYDIR) < 0)
      return false;
  return true;
}

void catalog_watch::run() {
  alignas(inotify_event) std::array<char, 16 * 1024> buf;
  auto drain = [&] {
    bool any = false;
    for (;;) {
      auto got = ::read(fd_, buf.data(), buf.size());
      if (got > 0) {
        any = true;
        continue;
      }
      if (got < 0 && errno == EINTR)
        continue;
      return any;
    }
  };
  for (;;) {
    std::array<pollfd, 2> fds{pollfd{fd_, POLLIN, 0}, pollfd{stop_fd_, POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    if (fds[1].revents != 0)
      return;
    if (!drain())
      continue;
    // Let the burst end, then watch folders it made (a new model's) before
    // the owner reads, so no change after the read goes unseen.
    while (::poll(fds.data(), 1, quiet_ms) > 0 && drain()) {
    }
    add_watches();
    changed_();
  }
}

} // namespace tessera::store
