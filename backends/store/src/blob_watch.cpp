#include "tessera/store/blob_watch.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <linux/magic.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace tessera::store {

namespace {

/// What changes a kept mapping's file, or which file a blob's path names.
constexpr uint32_t file_events = IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                 IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
/// The blobs folder: folders made, replaced or removed in it, or it moved.
constexpr uint32_t folder_events = IN_ONLYDIR | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                   IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
/// The watched object itself is gone or elsewhere; its watch tells no more.
constexpr uint32_t gone_events = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT;

// File systems whose changes made on another machine, or by a daemon,
// reach no inotify watch here.
bool remote_or_fuse_type(long type) {
  switch (static_cast<unsigned long>(type)) {
  case NFS_SUPER_MAGIC:
  case SMB_SUPER_MAGIC:
  case 0xfe534d42: // SMB2
  case 0xff534d42: // CIFS
  case 0x65735546: // FUSE
  case 0x00c36400: // Ceph
  case V9FS_MAGIC:
  case AFS_SUPER_MAGIC:
  case CODA_SUPER_MAGIC:
    return true;
  default:
    return false;
  }
}

// "ab" as a folder's first id byte, else -1.
int folder_byte(std::string_view name) {
  int value = 0;
  if (name.size() != 2)
    return -1;
  for (char c : name) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0)
      return -1;
    value = value * 16 + d;
  }
  return value;
}

} // namespace

bool inotify_sees_changes(const std::string& path) {
  struct statfs fs {};
  return ::statfs(path.c_str(), &fs) == 0 && !remote_or_fuse_type(fs.f_type);
}

blob_watch::blob_watch(std::string blobs_dir) : dir_(std::move(blobs_dir)) {
  std::fill(std::begin(wd_by_folder_), std::end(wd_by_folder_), -1);
}

blob_watch::~blob_watch() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool blob_watch::usable() {
  if (usable_ < 0) {
    struct statfs fs {};
    if (::statfs(dir_.c_str(), &fs) != 0)
      return false; // no blobs folder yet: ask again later
    usable_ = remote_or_fuse_type(fs.f_type) ? 0 : 1;
  }
  return usable_ == 1;
}

bool blob_watch::open() {
  if (fd_ >= 0 && dir_wd_ >= 0)
    return true;
  if (!usable())
    return false;
  if (fd_ < 0 && (fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
    return false; // out of instances (fs.inotify.max_user_instances): stat() instead
  dir_wd_ = ::inotify_add_watch(fd_, dir_.c_str(), folder_events);
  return dir_wd_ >= 0;
}

bool blob_watch::watch(const content_id& id) {
  if (!open())
    return false;
  int b = folder_of(id);
  if (wd_by_folder_[b] >= 0)
    return true;
  char name[4];
  std::snprintf(name, sizeof name, "%02x", b);
  int wd = ::inotify_add_watch(fd_, (dir_ + "/" + name).c_str(), file_events | IN_ONLYDIR);
  if (wd < 0)
    return false; // out of watches (fs.inotify.max_user_watches), or no such folder
  wd_by_folder_[b] = wd;
  folder_by_wd_[wd] = b;
  return true;
}

void blob_watch::forget_folder(int wd, changes& out) {
  auto i = folder_by_wd_.find(wd);
  if (i == folder_by_wd_.end())
    return;
  out.folders.push_back(i->second);
  wd_by_folder_[i->second] = -1;
  folder_by_wd_.erase(i);
  ::inotify_rm_watch(fd_, wd); // fails harmlessly where the kernel dropped it
}

void blob_watch::clear() {
  for (const auto& [wd, b] : folder_by_wd_) {
    ::inotify_rm_watch(fd_, wd);
    wd_by_folder_[b] = -1;
  }
  folder_by_wd_.clear();
  if (dir_wd_ >= 0)
    ::inotify_rm_watch(fd_, dir_wd_);
  dir_wd_ = -1;
}

const blob_watch::changes& blob_watch::drain() {
  auto& out = changes_;
  out.blobs.clear();
  out.folders.clear();
  out.everything = false;
  if (fd_ < 0)
    return out;
  alignas(inotify_event) std::array<char, 16 * 1024> buf;
  for (;;) {
    auto got = ::read(fd_, buf.data(), buf.size());
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return out; // EAGAIN: nothing more queued
    for (ssize_t at = 0; at < got;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      std::string_view name = ev->len > 0 ? std::string_view{ev->name} : std::string_view{};
      if ((ev->mask & IN_Q_OVERFLOW) != 0) {
        out.everything = true;
      } else if (ev->wd == dir_wd_) {
        if ((ev->mask & gone_events) != 0) {
          out.everything = true;
          clear();
        } else if (int b = folder_byte(name); b >= 0 && wd_by_folder_[b] >= 0) {
          forget_folder(wd_by_folder_[b], out); // a folder replaced or removed
        }
      } else if ((ev->mask & gone_events) != 0) {
        forget_folder(ev->wd, out);
      } else if (name.size() == 37 && name.substr(32) == ".blob") {
        if (auto id = parse_content_id(name.substr(0, 32)))
          out.blobs.push_back(*id);
      }
    }
  }
}

} // namespace tessera::store
