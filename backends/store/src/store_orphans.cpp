#include "tessera/store/store_orphans.hpp"

#include <algorithm>
#include <unordered_set>

namespace tessera::store {

orphan_report find_orphans(const block_store& store) {
  std::unordered_set<content_id> used;
  for (const auto& latest : store.manifests().list_latest())
    for (auto v : store.manifests().versions(latest.name))
      if (auto m = store.manifests().get(latest.name, v))
        for (const auto& [id, bytes] : unique_blobs(*m))
          used.insert(id);
  orphan_report out;
  for (const auto& id : store.blobs().list())
    if (used.count(id) == 0) {
      out.blobs.push_back(id);
      if (auto size = store.blobs().file_bytes(id))
        out.bytes += *size;
    }
  std::sort(out.blobs.begin(), out.blobs.end());
  return out;
}

} // namespace tessera::store
