// The model registry: the one actor that reads the store's manifests and
// group definitions and decides what the node serves from them. It is
// detached, so a slow disk never stalls the pooled actor thread that routes
// requests. It keeps an immutable catalogue (store::store_catalog) and sends
// each new one to its subscribers (the gateway, the executors), which look
// models and groups up in memory. It learns of changes from the store's own
// events (store::catalog_watch; a timer where inotify cannot see the store),
// and defines groups, so a group reaches the executors as a message and its
// file is only persistence (docs/cluster.md, "The model registry").
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <chrono>

namespace tessera::actors {

struct registry_options {
  /// Fused groups the store may define (node key max_groups).
  uint32_t max_groups = 64;
  /// How often the store is read again where its changes cannot be watched.
  std::chrono::milliseconds rescan{2000};
};

/// The registry's messages:
/// - (subscribe_atom, caf::actor): sends (catalog_atom, catalog_ptr) now and
///   after each change;
/// - (catalog_atom) -> catalog_ptr: the newest catalogue;
/// - (lookup_atom, std::string name) -> catalog_ptr: reads the model or
///   group `name` again first (asked when a request names what the
///   catalogue lacks, as a model imported a moment ago);
/// - (define_atom, group_definition) -> catalog_ptr: stores a client's group
///   (group_store::define's refusals, and ec::out_of_memory beyond
///   max_groups), and answers once every subscriber has been sent it;
/// - (refresh_atom): reads the whole store again.
/// `first` is the catalogue the node read at start; the store outlives the actor.
caf::actor spawn_registry(caf::actor_system& sys, const store::block_store& store,
                          catalog_ptr first, registry_options opts);

} // namespace tessera::actors
