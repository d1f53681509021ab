// Model manifests on disk, one JSON file per version under
// <store>/models/<name>/<version>.json. Names are restricted to [A-Za-z0-9._-]
// so they are safe as file names and on the wire.
#pragma once

#include "tessera/core/manifest.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tessera::store {

/// Checks a model name; the error names the offending character.
caf::error check_model_name(const std::string& name);

/// The version a lookup of `name` at `version` (0: the highest) finds among
/// `stored` (ascending), with the errors manifest_store::get() gives:
/// ec::unknown_model for a name no model can have, no stored version, or
/// not that version.
caf::expected<uint32_t> pick_version(const std::string& name, const std::vector<uint32_t>& stored,
                                     uint32_t version);

class manifest_store {
public:
  explicit manifest_store(std::string root);

  /// Writes a manifest atomically (replacing the same name and version).
  caf::error put(const model_manifest& m) const;

  /// Reads one version; version 0 means the highest stored version.
  caf::expected<model_manifest> get(const std::string& name, uint32_t version = 0) const;

  /// Reads one stored version (`version` as versions() lists it), checked
  /// to hold that name and version.
  caf::expected<model_manifest> read(const std::string& name, uint32_t version) const;

  /// The name of every model folder, sorted (a folder whose manifests do not
  /// parse included, which list_latest() leaves out).
  std::vector<std::string> names() const;

  /// Stored versions of a model, ascending.
  std::vector<uint32_t> versions(const std::string& name) const;

  /// The latest version of every model, sorted by name.
  std::vector<model_manifest> list_latest() const;

  /// Removes one version.
  caf::error remove(const std::string& name, uint32_t version) const;

private:
  std::string root_;
};

} // namespace tessera::store
