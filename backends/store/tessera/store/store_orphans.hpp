// Blobs that no stored model version uses: what a failed import or a removed
// manifest leaves behind. `tessera store verify` reports them.
#pragma once

#include "tessera/store/block_store.hpp"

#include <cstdint>
#include <vector>

namespace tessera::store {

struct orphan_report {
  std::vector<content_id> blobs; ///< sorted
  uint64_t bytes = 0;            ///< their files' bytes, headers included
};

/// The blobs on disk that no version of any stored model binds.
orphan_report find_orphans(const block_store& store);

} // namespace tessera::store
