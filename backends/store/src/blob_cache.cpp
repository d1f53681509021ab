#include "tessera/store/blob_cache.hpp"

namespace tessera::store {

blob_cache::blob_cache(const blob_store& store, read_method method, bool verify)
  : store_(store), method_(method), verify_(verify) {
  // nop
}

caf::expected<tensor_buffer> blob_cache::acquire(const content_id& id) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto i = entries_.find(id); i != entries_.end())
      if (auto owner = i->second.owner.lock()) {
        ++counters_.hits;
        return tensor_buffer{i->second.spec, i->second.data, i->second.bytes,
                             std::move(owner)};
      }
  }
  // Read outside the lock so loads of different blobs proceed in parallel.
  auto t = store_.read(id, method_, verify_);
  if (!t)
    return t.error();
  std::lock_guard<std::mutex> guard{mtx_};
  auto& e = entries_[id];
  if (auto existing = e.owner.lock()) {
    // Another thread read the same blob meanwhile; keep one copy resident.
    ++counters_.hits;
    return tensor_buffer{e.spec, e.data, e.bytes, std::move(existing)};
  }
  e = entry{t->spec, t->data, t->bytes, t->owner};
  ++counters_.misses;
  counters_.bytes_read += t->bytes;
  return t;
}

bool blob_cache::resident(const content_id& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(id);
  return i != entries_.end() && !i->second.owner.expired();
}

blob_cache_stats blob_cache::stats() const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto out = counters_;
  for (const auto& [id, e] : entries_)
    if (!e.owner.expired()) {
      ++out.resident_blobs;
      out.resident_bytes += e.bytes;
    }
  return out;
}

void blob_cache::reset_counters() {
  std::lock_guard<std::mutex> guard{mtx_};
  counters_.hits = counters_.misses = counters_.bytes_read = 0;
}

void blob_cache::forget_released() {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = entries_.begin(); i != entries_.end();)
    i = i->second.owner.expired() ? entries_.erase(i) : std::next(i);
}

} // namespace tessera::store
