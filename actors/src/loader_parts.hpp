// Internal: the loader's work on the local store as plain functions, apart from
// its actor. Which parts (manifests, skeletons, blobs) a model lacks, how a part
// is served to a peer, and how a part a peer sent is checked against its
// content id before it is written (atomically, through the store).
#pragma once

#include "tessera/core/error.hpp"
#include "tessera/core/manifest.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/transport/requests.hpp"
#include "tessera/transport/responses.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tessera::actors::detail {

/// `damaged_blob`: a blob whose local file is damaged, fetched to restore it
/// (blob_store::restore) rather than to add it.
enum class part_kind : uint8_t { blob, skeleton, manifest, damaged_blob };

/// One thing a store may lack: a blob or skeleton by id, or a model's
/// manifest by name and version (0: the latest).
struct model_part {
  part_kind kind = part_kind::blob;
  content_id id;
  std::string model;
  uint32_t version = 0;

  /// "blob HEX", "skeleton HEX" or "manifest NAME[:VERSION]": names the part
  /// in errors and keys fetches in flight.
  std::string label() const;

  /// The request that asks a peer for it.
  transport::request_body request() const;

  /// The code when no peer has it: unknown_blob, unknown_skeleton, unknown_model.
  ec missing_code() const;
};

/// The models that must be complete for `name` to be served here: the model
/// itself (or a group's members, when `name` names a stored group), and the
/// members of a stored group that lists the model, since an executor serves a
/// member from its group (decision 23). Refs are (name, version), 0: latest.
std::vector<std::pair<std::string, uint32_t>>
models_to_complete(const store::block_store& store, const std::string& name, uint32_t version);

/// The skeletons and blobs of `m` that the store lacks, each once.
std::vector<model_part> missing_parts(const store::block_store& store, const model_manifest& m);

/// A blob for a peer; the bytes view the mapped file (no copy). The requester
/// verifies them, so they are not hashed here.
caf::expected<transport::fetch_blob_response> serve_blob(const store::block_store& store,
                                                         const transport::fetch_blob_request& req);

caf::expected<transport::fetch_skeleton_response>
serve_skeleton(const store::block_store& store, const transport::fetch_skeleton_request& req);

caf::expected<transport::fetch_manifest_response>
serve_manifest(const store::block_store& store, const transport::fetch_manifest_request& req);

/// Checks a fetched blob against the id asked for (corrupt_blob naming it
/// otherwise) and writes it; with `restore`, over its damaged file, in place.
/// Returns its data bytes.
caf::expected<uint64_t> accept_blob(const store::block_store& store, const content_id& id,
                                    const transport::fetch_blob_response& reply,
                                    bool restore = false);

/// Checks a fetched skeleton against its id and writes it.
caf::error accept_skeleton(const store::block_store& store, const content_id& id,
                           const transport::fetch_skeleton_response& reply);

/// Parses and validates a fetched manifest, checking that it is the model (and
/// version, when one was asked for) that was asked for. Not written: the loader
/// writes it once the model's parts are in the store.
caf::expected<model_manifest> accept_manifest(const model_part& asked,
                                              const transport::fetch_manifest_response& reply);

} // namespace tessera::actors::detail
