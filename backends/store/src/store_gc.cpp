#include "tessera/store/store_gc.hpp"

#include "tessera/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <unordered_set>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace tessera::store {

caf::expected<store_lock> store_lock::take(const block_store& store, mode m, bool wait) {
  auto path = store.root() + "/gc.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(ec::io_error, "cannot open " + path + ": " + std::strerror(errno));
  int op = (m == mode::collect ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  while (::flock(fd, op) != 0) {
    if (errno == EINTR)
      continue;
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return make_error(ec::unavailable,
                        m == mode::collect
                            ? "an import or a zoo build is writing to the store; retry when it ends"
                            : "a collection (store gc, models rm) is running; retry when it ends");
    return make_error(ec::io_error, "cannot lock " + path + ": " + std::strerror(err));
  }
  return store_lock{fd};
}

store_lock::store_lock(store_lock&& other) noexcept : fd_(other.fd_) {
  other.fd_ = -1;
}

store_lock& store_lock::operator=(store_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

store_lock::~store_lock() {
  if (fd_ >= 0)
    ::close(fd_); // releases the flock
}

caf::expected<gc_report> collect_garbage(const block_store& store, const gc_scope& scope) {
  std::unordered_set<content_id> blobs_used, skeletons_used;
  // Every version of every model folder: one that does not read stops the
  // collection, since what it uses cannot be known.
  for (const auto& name : store.manifests().names())
    for (auto v : store.manifests().versions(name)) {
      auto m = store.manifests().get(name, v);
      if (!m)
        return wrap(m.error(), "cannot tell what " + name + ":" + std::to_string(v) +
                                   " uses, so nothing is removed");
      for (const auto& n : m->nodes) {
        skeletons_used.insert(n.skeleton);
        for (const auto& p : n.params)
          blobs_used.insert(p.blob);
      }
    }
  gc_report out;
  for (const auto& id : scope.blobs ? *scope.blobs : store.blobs().list()) {
    if (blobs_used.count(id) > 0)
      continue;
    auto size = store.blobs().file_bytes(id);
    if (!size)
      continue; // already gone
    if (auto err = store.blobs().remove(id))
      return err;
    ++out.blobs;
    out.bytes += *size;
  }
  for (const auto& id : scope.skeletons ? *scope.skeletons : store.skeletons().list()) {
    if (skeletons_used.count(id) > 0 || !store.skeletons().contains(id))
      continue;
    if (auto err = store.skeletons().remove(id))
      return err;
    ++out.skeletons;
  }
  return out;
}

} // namespace tessera::store
