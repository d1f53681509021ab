// A node's block store: blobs, skeletons and manifests under one root folder.
// It is the gate through which models enter (every manifest is checked against
// the blobs and skeletons it names) and the place `tessera store verify` scans.
#pragma once

#include "tessera/store/blob_store.hpp"
#include "tessera/store/manifest_store.hpp"
#include "tessera/store/skeleton_store.hpp"

#include <caf/expected.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tessera::store {

struct corrupt_entry {
  content_id blob;
  std::string reason;
  /// "name:version" of every stored model that uses the blob.
  std::vector<std::string> models;
};

struct verify_report {
  size_t blobs_checked = 0;
  size_t bytes_checked = 0;
  std::vector<corrupt_entry> corrupt;
};

class block_store {
public:
  /// Opens (and with `create`, makes) a store, removing stale temporaries.
  static caf::expected<block_store> open(const std::string& root, bool create = true);

  const blob_store& blobs() const {
    return blobs_;
  }
  const skeleton_store& skeletons() const {
    return skeletons_;
  }
  const manifest_store& manifests() const {
    return manifests_;
  }
  const std::string& root() const {
    return root_;
  }

  /// Runs validate_manifest() and checks that every skeleton and blob exists
  /// and that each blob's stored type equals the binding's declared type.
  caf::error check_manifest(const model_manifest& m) const;

  /// check_manifest(), then stores the manifest; a version stored already
  /// with other contents is refused (ec::already_exists).
  caf::error add_model(const model_manifest& m) const;

  /// Re-hashes every blob; `progress(done, total)` is called after each.
  verify_report verify_all(const std::function<void(size_t, size_t)>& progress = {}) const;

  /// "name:version" of every stored model whose manifest binds `blob`.
  std::vector<std::string> models_using(const content_id& blob) const;

private:
  explicit block_store(std::string root);

  std::string root_;
  blob_store blobs_;
  skeleton_store skeletons_;
  manifest_store manifests_;
};

} // namespace tessera::store
