#include "tessera/store/blob_map_cache.hpp"

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

std::optional<blob_map_cache::mapping> blob_map_cache::find(const content_id& id,
                                                            const struct stat& st) {
  auto version = version_of(st);
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(id);
  if (i == entries_.end() || !(i->second.version == version))
    return std::nullopt;
  lru_.splice(lru_.begin(), lru_, i->second.lru);
  ++hits_;
  return i->second.map;
}

void blob_map_cache::keep(const content_id& id, int fd) {
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
  if (auto i = entries_.find(id); i != entries_.end()) {
    bytes_ -= i->second.map.file_bytes;
    lru_.erase(i->second.lru);
    entries_.erase(i);
  }
  auto cap = capacity_.load();
  shrink_to(cap - std::min(cap, version.size));
  lru_.push_front(id);
  entries_.emplace(id, entry{version, std::move(m), lru_.begin()});
  bytes_ += version.size;
  ++mapped_;
}

void blob_map_cache::shrink_to(uint64_t bytes) {
  // A reader that holds a mapping keeps it alive until it is done with it.
  while (bytes_ > bytes && !lru_.empty()) {
    auto i = entries_.find(lru_.back());
    bytes_ -= i->second.map.file_bytes;
    entries_.erase(i);
    lru_.pop_back();
  }
}

void blob_map_cache::forget(const content_id& id) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = entries_.find(id); i != entries_.end()) {
    bytes_ -= i->second.map.file_bytes;
    lru_.erase(i->second.lru);
    entries_.erase(i);
  }
}

void blob_map_cache::clear() {
  std::lock_guard<std::mutex> guard{mtx_};
  shrink_to(0);
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
  return {hits_, mapped_, entries_.size(), bytes_};
}

} // namespace tessera::store
