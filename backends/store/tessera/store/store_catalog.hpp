// What a store holds, read once: every model version's manifest (or why it
// does not read), every fused group definition, and each group's plan. A
// catalogue is immutable once read, so one snapshot is shared by every actor
// of a node without a lock; the node's registry reads a new one when the
// store changes (docs/cluster.md, "The model registry").
#pragma once

#include "tessera/core/fusion_plan.hpp"
#include "tessera/core/group_definition.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/expected.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tessera::store {

struct store_catalog {
  /// Each model's stored versions, ascending, with its manifest or the error
  /// reading it gave.
  std::map<std::string, std::map<uint32_t, caf::expected<model_manifest>>> models;
  /// Every readable group definition, by name.
  std::map<std::string, group_definition> groups;
  /// Each group's plan over the catalogue's manifests, or why it has none.
  std::map<std::string, caf::expected<std::shared_ptr<const fused_plan>>> plans;

  /// What manifest_store::get() would give, as of the read.
  caf::expected<model_manifest> get(const std::string& name, uint32_t version = 0) const;

  /// Stored versions of a model, ascending.
  std::vector<uint32_t> versions(const std::string& name) const;

  /// The latest version of every model whose manifest reads, sorted by name.
  std::vector<model_manifest> list_latest() const;

  /// The definition named `name`, or null.
  const group_definition* group(const std::string& name) const;

  /// The first definition (by group name) listing `ref` ("name:version"), or null.
  const group_definition* group_containing(const std::string& ref) const;

  /// Every definition, sorted by name.
  std::vector<group_definition> group_list() const;

  /// The plan of the group named `name`: ec::unknown_model when no group
  /// has that name, else the plan or the error planning it gave.
  caf::expected<std::shared_ptr<const fused_plan>> plan(const std::string& name) const;

  /// Whether two catalogues hold the same manifests, errors and definitions.
  bool same_as(const store_catalog& other) const;
};

/// plan_group() over the catalogue's manifests (no file is read).
caf::expected<fused_plan> plan_group(const store_catalog& c, const group_definition& g);

/// Reads every manifest and group definition of `store`, and plans the groups.
std::shared_ptr<store_catalog> read_catalog(const block_store& store);

/// A copy of `c` with model `name`'s manifests and the group named `name`
/// read again from `store` (a lookup of something the catalogue lacks).
std::shared_ptr<store_catalog> reread_name(const store_catalog& c, const block_store& store,
                                           const std::string& name);

/// A copy of `c` with every group definition read again, and planned.
std::shared_ptr<store_catalog> reread_groups(const store_catalog& c, const block_store& store);

} // namespace tessera::store
