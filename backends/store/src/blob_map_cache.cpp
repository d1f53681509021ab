#include "tessera/store/blob_map_cache.hpp"

#include "tessera/store/blob_watch.hpp"

#include <iterator>

#include <sys/mman.h>
#include <sys/stat.h>

namespace tessera::store {

namespace {

int64_t ns_of(const timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

} // namespace

blob_map_cache::file_version blob_map_cache::version_of(const struct stat& st) {
  return file_version{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                      static_cast<uint64_t>(st.st_size), ns_of(st.st_mtim), ns_of(st.st_ctim)};
}

blob_map_cache::blob_map_cache(uint64_t capacity_bytes, std::string blobs_dir)
    : capacity_(capacity_bytes) {
  if (!blobs_dir.empty())
    watch_ = std::make_unique<blob_watch>(std::move(blobs_dir));
}

blob_map_cache::~blob_map_cache() = default;

blob_map_cache::mapping blob_map_cache::hit(entry_map::iterator i) {
  lru_.splice(lru_.begin(), lru_, i->second.lru);
  ++hits_;
  return i->second.map;
}

std::optional<blob_map_cache::mapping> blob_map_cache::find(const content_id& id,
                                                            const stat_fn& stat_now) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    apply_changes();
    auto i = entries_.find(id);
    if (i == entries_.end())
      return std::nullopt;
    if (i->second.watched) // no change told since it was mapped: the file is as mapped
      return hit(i);
  }
  struct stat st {};
  if (!stat_now(st))
    return std::nullopt;
  auto version = version_of(st);
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(id);
  if (i == entries_.end() || !(i->second.version == version))
    return std::nullopt;
  return hit(i);
}

bool blob_map_cache::holds(const content_id& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return entries_.count(id) != 0;
}

void blob_map_cache::keep(const content_id& id, int fd, const stat_fn& stat_now) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return;
  auto version = version_of(st);
  if (version.size == 0 || version.size > capacity())
    return;
  auto len = static_cast<size_t>(version.size);
  void* base = ::mmap(nullptr, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (base == MAP_FAILED)
    return; // reads go on through pread
  mapping m;
  m.base = std::shared_ptr<const std::byte>(
      static_cast<const std::byte*>(base),
      [len](const std::byte* p) { ::munmap(const_cast<std::byte*>(p), len); });
  m.file_bytes = version.size;
  std::lock_guard<std::mutex> guard{mtx_};
  apply_changes();
  bool watched = watching_ && watch_ && watch_->watch(id);
  if (watched) {
    // Changes from now on are told. One made since the caller opened `fd`
    // and before the watch began is not: the path must name that file still.
    struct stat now {};
    if (!stat_now(now) || !(version_of(now) == version))
      return;
  }
  if (auto i = entries_.find(id); i != entries_.end())
    erase(i);
  auto cap = capacity_.load();
  shrink_to(cap - std::min(cap, version.size));
  lru_.push_front(id);
  entries_.emplace(id, entry{version, std::move(m), lru_.begin(), watched});
  bytes_ += version.size;
  watched_ += watched ? 1 : 0;
  ++mapped_;
}

void blob_map_cache::erase(entry_map::iterator i) {
  // A reader that holds a mapping keeps it alive until it is done with it.
  bytes_ -= i->second.map.file_bytes;
  watched_ -= i->second.watched ? 1 : 0;
  lru_.erase(i->second.lru);
  entries_.erase(i);
}

void blob_map_cache::apply_changes() {
  if (!watch_)
    return;
  const auto& changes = watch_->drain();
  if (changes.everything) {
    shrink_to(0);
    return;
  }
  for (const auto& id : changes.blobs)
    if (auto i = entries_.find(id); i != entries_.end())
      erase(i);
  for (int folder : changes.folders) // rare: a folder replaced or removed
    for (auto i = entries_.begin(); i != entries_.end();) {
      auto next = std::next(i);
      if (blob_watch::folder_of(i->first) == folder)
        erase(i);
      i = next;
    }
}

void blob_map_cache::shrink_to(uint64_t bytes) {
  while (bytes_ > bytes && !lru_.empty())
    erase(entries_.find(lru_.back()));
}

uint64_t blob_map_cache::release(uint64_t bytes) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto before = bytes_;
  shrink_to(before > bytes ? before - bytes : 0);
  return before - bytes_;
}

void blob_map_cache::forget(const content_id& id) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = entries_.find(id); i != entries_.end())
    erase(i);
}

void blob_map_cache::clear() {
  std::lock_guard<std::mutex> guard{mtx_};
  shrink_to(0);
  if (watch_) // nothing is left to tell changes of
    watch_->clear();
}

void blob_map_cache::set_watching(bool on) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (on == watching_)
    return;
  watching_ = on;
  shrink_to(0); // mapped again, under the new rule, at their next reads
  if (watch_ && !on)
    watch_->clear();
}

void blob_map_cache::set_capacity(uint64_t bytes) {
  std::lock_guard<std::mutex> guard{mtx_};
  capacity_ = bytes;
  shrink_to(bytes);
}

uint64_t blob_map_cache::capacity() const {
  return capacity_.load(std::memory_order_relaxed);
}

blob_map_cache::stats blob_map_cache::counts() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {hits_, mapped_, entries_.size(), bytes_, watched_};
}

} // namespace tessera::store
