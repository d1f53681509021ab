// Integrity of resident blobs after they were verified (decision 43). In place,
// a large blob's tensor is a mapping of its store file, so any later write to
// the file changes what models compute with. The core watches the folders of
// the blobs it reads in place; a change reported for one makes it suspect:
// - a pin re-hashes a suspect blob first, and refuses with ec::corrupt_blob
//   until its bytes match its id again (the file restored);
// - a load drops suspect blobs that no lease holds, so they are read and
//   verified again (or fail as corrupt);
// - work that ran while one of its blobs' files changed is discarded
//   (pin_guard::check_unchanged), since it may have read half-changed bytes.
// The scrub re-hashes resident blobs at a bounded rate, in either mode, for
// rot that no event reports.
#include "residency_core.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>

namespace tessera::residency {

void residency_core::mark_changed(entry& e) {
  e.suspect = true;
  e.bad = caf::error{};
  e.changed_epoch = ++change_epoch_;
  ++counters_.blob_file_changes;
}

void residency_core::poll_changes() {
  if (watch_ == nullptr)
    return;
  const auto& ch = watch_->drain();
  for (const auto& id : ch.blobs)
    if (auto i = table_.find(id); i != table_.end())
      mark_changed(i->second);
  if (ch.folders.empty() && !ch.everything)
    return;
  // A folder replaced, removed or lost events: every blob in it may have
  // changed, and its watch went with it (watch() leaves `ch` as it is).
  for (auto& [id, e] : table_) {
    auto f = store::blob_watch::folder_of(id);
    if (ch.everything || std::find(ch.folders.begin(), ch.folders.end(), f) != ch.folders.end()) {
      mark_changed(e);
      watch_->watch(id);
    }
  }
}

void residency_core::mark_bad(const content_id& id, entry& e, const std::string& why) {
  ++counters_.blobs_found_changed;
  e.bad = name_users(make_error(ec::corrupt_blob, why), id);
  if (on_corrupt_)
    on_corrupt_(id);
}

void residency_core::on_corrupt(residency_manager::corrupt_callback cb) {
  std::lock_guard<std::mutex> guard{mtx_};
  on_corrupt_ = std::move(cb);
}

caf::error residency_core::rehash(const content_id& id, entry& e) {
  if (e.bad)
    return e.bad; // found bad, and its file has not changed since
  if (!e.resident)
    return {}; // its read verifies it, and a pin waits for it
  ++counters_.blobs_rehashed;
  auto digest = blob_id_of(e.spec, e.data, e.bytes);
  if (digest == id) {
    e.suspect = false;
    return {};
  }
  mark_bad(id, e,
           "its store file changed after it was verified, and its bytes now hash to " +
               digest.short_hex() +
               ": the models that use it are refused until the file is restored or fetched again");
  return e.bad;
}

void residency_core::drop_suspect_unheld(const std::unordered_map<content_id, uint64_t>& request) {
  poll_changes();
  if (change_epoch_ == 0)
    return;
  for (const auto& [id, bytes] : request) {
    auto i = table_.find(id);
    if (i != table_.end() && i->second.suspect && i->second.resident && i->second.refs == 0 &&
        i->second.pins == 0)
      erase(i);
  }
}

caf::error residency_core::check_unchanged(const lease& l, uint64_t epoch) {
  std::lock_guard<std::mutex> guard{mtx_};
  poll_changes();
  if (change_epoch_ == epoch)
    return {};
  for (const auto& b : l.blobs_) {
    auto i = table_.find(b.id);
    if (i != table_.end() && i->second.changed_epoch > epoch) {
      ++counters_.runs_discarded;
      return name_users(
          make_error(ec::corrupt_blob, "its store file changed while \"" + l.owner_ +
                                           "\" ran on it in place: the result was discarded"),
          b.id);
    }
  }
  return {};
}

uint64_t residency_core::scrub(uint64_t max_bytes) {
  struct pick {
    content_id id;
    uint64_t serial = 0;
    tensor_spec spec;
    const std::byte* data = nullptr;
    uint64_t bytes = 0;
    std::shared_ptr<resident_memory> memory; ///< keeps the bytes while they are hashed
  };
  std::vector<pick> picks;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    poll_changes();
    // Least recently scrubbed first; a pass ends when every resident blob
    // has been hashed in it.
    std::vector<std::pair<uint64_t, table::iterator>> order;
    for (auto i = table_.begin(); i != table_.end(); ++i)
      if (i->second.resident && !i->second.bad)
        order.emplace_back(i->second.scrubbed, i);
    if (order.empty())
      return 0;
    std::sort(order.begin(), order.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    if (order.front().first > scrub_.passes) // all hashed in this pass
      ++scrub_.passes;
    uint64_t bytes = 0;
    for (auto& [pass, i] : order) {
      if (pass > scrub_.passes || (!picks.empty() && bytes + i->second.bytes > max_bytes))
        break;
      auto& e = i->second;
      e.scrubbed = scrub_.passes + 1;
      picks.push_back({i->first, e.serial, e.spec, e.data, e.bytes, e.memory});
      bytes += e.bytes;
    }
  }
  uint64_t hashed = 0;
  for (auto& p : picks) {
    auto digest = blob_id_of(p.spec, p.data, p.bytes);
    hashed += p.bytes;
    std::lock_guard<std::mutex> guard{mtx_};
    ++scrub_.blobs;
    scrub_.bytes += p.bytes;
    if (digest == p.id)
      continue;
    ++scrub_.mismatches;
    auto i = table_.find(p.id);
    if (i == table_.end() || i->second.serial != p.serial)
      continue; // gone, or read again meanwhile
    mark_changed(i->second);
    mark_bad(p.id, i->second,
             "the scrub found its bytes hash to " + digest.short_hex() +
                 ": the models that use it are refused until it is read again good");
  }
  return hashed;
}

} // namespace tessera::residency
