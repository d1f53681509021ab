// Fused group definitions in the store, one JSON file per group under
// <store>/groups/NAME.json (written atomically through tmp/), and the step
// that turns a stored definition into a plan over the store's manifests.
#pragma once

#include "tessera/core/fusion_plan.hpp"
#include "tessera/core/group_definition.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/expected.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tessera::store {

class group_store {
public:
  /// `root` is the block store's root folder.
  explicit group_store(std::string root);

  /// Writes (or replaces) a definition. The name follows the model-name rules.
  caf::error put(const group_definition& g) const;

  /// put() for a client's fuse request: refuses (ec::already_exists) a name
  /// that a stored model has, or that a stored group has with other members
  /// or bindings. The same definition again is a no-op, so a node that
  /// defines a group on a peer twice is answered alike.
  caf::error define(const group_definition& g) const;

  /// What define() would refuse `g` for, without writing: a model's name,
  /// or a group of that name with other members (ec::already_exists). None
  /// when `g` is new or the same as the stored one.
  caf::error check_definable(const group_definition& g) const;

  /// Errors: ec::unknown_model when no group has that name.
  caf::expected<group_definition> get(const std::string& name) const;

  /// Every stored definition, sorted by name; unreadable files are skipped.
  std::vector<group_definition> list() const;

  caf::error remove(const std::string& name) const;

private:
  std::string path_of(const std::string& name) const;

  std::string root_;
};

/// Reads each member's manifest from the store (refs "name" or "name:version")
/// and plans the group. Errors: ec::unknown_model naming the missing model,
/// and those of plan_fusion().
caf::expected<fused_plan> plan_group(const block_store& store, const group_definition& g);

/// Finds a member's manifest: name and version (0: the highest).
using manifest_lookup =
    std::function<caf::expected<model_manifest>(const std::string& name, uint32_t version)>;

/// plan_group() over manifests that `find` gives (a catalogue read before).
caf::expected<fused_plan> plan_group(const manifest_lookup& find, const group_definition& g);

} // namespace tessera::store
