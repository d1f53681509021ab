// The loader: one per node. It shares the node's store with peer loaders and
// fills gaps in it from them. Peers ask it for blobs, skeletons and manifests
// (the fetch_* operations of docs/protocol.md, which the gateway hands it);
// before a model is loaded it makes sure that every part of the model is in
// the local store, fetching what is missing from the peers that are up, one
// fetch per part however many requests wait for it. It is detached: it reads,
// hashes and writes files.
#pragma once

#include "tessera/actors/bridge.hpp"
#include "tessera/actors/messages.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/transport/requests.hpp"
#include "tessera/transport/responses.hpp"

#include <caf/actor_system.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

namespace tessera::actors {

/// What a loader fetched and served since it started, for /metrics. Written by
/// the loader only; read by scrapes.
struct loader_counters {
  std::atomic<uint64_t> fetched_blobs{0};
  std::atomic<uint64_t> fetched_bytes{0}; ///< tensor bytes of the fetched blobs
  std::atomic<uint64_t> fetched_skeletons{0};
  std::atomic<uint64_t> fetched_manifests{0};
  std::atomic<uint64_t> fetch_failures{0}; ///< attempts at one peer that failed
  std::atomic<uint64_t> served_blobs{0};
  /// Damaged blob files restored with a good copy from a peer, and restores
  /// that no peer could provide for (decision 43).
  std::atomic<uint64_t> restored_blobs{0};
  std::atomic<uint64_t> restore_failures{0};
  std::atomic<uint64_t> served_bytes{0};
};

struct loader_options {
  std::string node_name;
  /// The peers to fetch from, in the order they are tried (up ones first);
  /// null: this loader only serves.
  bridge* peers = nullptr;
  /// How long one peer may take to answer one fetch before the next is tried.
  std::chrono::milliseconds fetch_timeout{10000};
  /// Fetches in flight at once; the rest wait their turn.
  size_t max_fetches = 8;
  /// False on a node without executors: it needs manifests (to validate
  /// requests) but never the blobs and skeletons.
  bool fetch_parts = true;
  std::shared_ptr<loader_counters> counters = std::make_shared<loader_counters>();
};

/// repair: fetches a good copy of a blob found damaged here (by hex id) from
/// a peer and writes it over the blob's file, in place.
/// ensure: makes a model ("name", version or 0 for the latest; or a fused
/// group's name) complete in the local store, with the members of groups that
/// list it; errors name the part and the model. fetch: answers a peer's
/// fetch_blob, fetch_skeleton or fetch_manifest from the local store.
using loader_actor =
    caf::typed_actor<caf::replies_to<ensure_atom, std::string, uint32_t>::with<bool>,
                     caf::reacts_to<repair_atom, std::string>,
                     caf::replies_to<fetch_atom, transport::fetch_blob_request>::with<
                         transport::fetch_blob_response>,
                     caf::replies_to<fetch_atom, transport::fetch_skeleton_request>::with<
                         transport::fetch_skeleton_response>,
                     caf::replies_to<fetch_atom, transport::fetch_manifest_request>::with<
                         transport::fetch_manifest_response>>;

/// The store outlives the actor; so does `opts.peers`.
loader_actor spawn_loader(caf::actor_system& sys, const store::block_store& store,
                          loader_options opts);

} // namespace tessera::actors

// They hold tensor_buffers and never leave the process as CAF messages.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::transport::fetch_blob_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::transport::fetch_blob_response)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::transport::fetch_skeleton_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::transport::fetch_skeleton_response)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::transport::fetch_manifest_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::transport::fetch_manifest_response)