// The successful replies, one plain struct per operation, mirroring requests.hpp.
// Failures travel as {id, ok: false, error: {code, name, message}} and decode to a
// caf::error carrying the same tessera::ec, so callers see one error type.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/transport/operation.hpp"
#include "tessera/transport/tensor_payload.hpp"

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace tessera::transport {

/// What a node reports of its device to the coordinator that asked (an infer
/// with the parameter `holdings_since`, docs/protocol.md): its free device
/// memory and the blobs resident there.
struct node_holdings {
  uint64_t free_bytes = 0;
  uint64_t digest = 0; ///< of the resident blob ids, in any order
  /// The resident blob ids; none when the digest equals the one asked with.
  std::optional<std::vector<content_id>> blob_ids;
};

/// The outputs of one inference.
struct infer_response {
  std::string model_name;
  std::optional<int64_t> model_version;
  std::vector<tensor_payload> outputs;
  parameter_map parameters; ///< e.g. timings the server chooses to report
  std::optional<node_holdings> holdings; ///< only when the request asked
};

/// A model is resident; the byte counts show how much block sharing saved.
struct model_load_response {
  std::string model_name;
  std::optional<int64_t> model_version;
  uint64_t loaded_bytes = 0; ///< bytes read for this load
  uint64_t reused_bytes = 0; ///< bytes of blocks already resident
};

/// A model was released.
struct model_unload_response {
  std::string model_name;
  std::optional<int64_t> model_version;
};

/// Whether a model can serve now.
struct model_ready_response {
  std::string model_name;
  std::optional<int64_t> model_version;
  bool ready = false;
  /// "unavailable", "loading", "ready", "unloading" or "failed" (absent
  /// from older nodes: then read from `ready`).
  std::string state;
  std::string reason; ///< why it failed; empty otherwise
};

/// A fused group was created.
struct fuse_response {
  std::string group_name;
  std::vector<std::string> models;
  uint64_t shared_blocks = 0; ///< blocks the merge found in more than one model
  /// Peers that could not define the group too, each as "endpoint: reason".
  std::vector<std::string> not_defined_on;
};

/// One model of the repository index.
struct model_index_entry {
  std::string name;
  std::optional<int64_t> version;
  std::string state;  ///< "unavailable", "loading", "ready", "unloading", "failed"
  std::string reason; ///< why it is not ready, or empty
};

/// The models a repository holds.
struct repository_index_response {
  std::vector<model_index_entry> models;
};

/// One node of the cluster as the answering node sees it.
struct node_entry {
  std::string name;
  std::string state; ///< "up" or "down"
};

/// One device of the cluster and its memory.
struct device_entry {
  std::string name; ///< "node/device", e.g. "box1/cuda:0"
  uint64_t used_bytes = 0;
  uint64_t budget_bytes = 0;
};

/// What one executor's streamed runs did since its node started: models and
/// fused groups too large to hold, run block by block (docs/swapping.md,
/// "Serving"). Totals; a per-block figure is a total over `blocks`.
struct stream_entry {
  uint64_t runs = 0;        ///< runs that answered with outputs
  uint64_t failed_runs = 0; ///< runs that answered with an error
  uint64_t blocks = 0;      ///< blocks run
  uint64_t blobs_read = 0;  ///< blobs read from the store for them
  uint64_t bytes_read = 0;
  uint64_t copies = 0; ///< copies after the read (staging to device)
  uint64_t bytes_copied = 0;
  uint64_t waited_blocks = 0;      ///< blocks not loaded yet when their run reached them
  uint64_t wait_us = 0;            ///< time runs waited for their blocks
  uint64_t compute_us = 0;         ///< time the blocks computed
  uint64_t forced_blocks = 0;      ///< blocks loaded alone under a budget below them
  uint64_t trimmed_blocks = 0;     ///< prefetched blocks given back when the budget shrank
  uint64_t peak_held_bytes = 0;    ///< the most one run held at once
  uint64_t budget_bytes = 0;       ///< the budget the node's streams share now
  uint64_t last_share_bytes = 0;   ///< the last run's share of it at its last block
  uint64_t last_window_blocks = 0; ///< the most blocks the last run loaded ahead
};

/// One executor the answering node schedules onto (its own, or a peer's).
struct executor_entry {
  std::string name;
  std::vector<std::string> models; ///< "name:version" of the models it holds loaded
  uint64_t served = 0;             ///< jobs it ran (for a peer: jobs this node sent it)
  /// Units prepared to stream ("name:version", "group:NAME"); empty for a peer.
  std::vector<std::string> streamed{};
  /// Its streamed runs; absent for a peer's executor and for an executor that
  /// neither prepared nor ran a streamed unit (and in older nodes' replies).
  std::optional<stream_entry> stream{};
};

/// What the answering node keeps beyond what its loaded models hold, against
/// its host memory budget (node key host_memory_budget; 0: none).
struct host_memory_entry {
  uint64_t budget_bytes = 0;
  uint64_t total_bytes = 0;           ///< the sum of the four parts below
  uint64_t mapped_files_bytes = 0;    ///< store blob files kept mapped
  uint64_t kept_device_bytes = 0;     ///< freed device memory kept for the next loads
  uint64_t kept_blocks_bytes = 0;     ///< resident blobs no loaded model holds
  uint64_t request_buffers_bytes = 0; ///< inputs of the requests in flight
  uint64_t trimmed_bytes = 0;         ///< given back for the budget since the node started
};

/// The state of the node and of the cluster it sees.
struct server_status_response {
  std::string node_name;
  uint64_t uptime_ms = 0;
  uint64_t requests_in_flight = 0;
  uint64_t requests_served = 0;
  uint64_t requests_queued = 0; ///< waiting in the scheduler's queue for an executor
  std::vector<node_entry> nodes;
  std::vector<device_entry> devices;
  std::vector<executor_entry> executors;
  /// Absent in older nodes' replies.
  std::optional<host_memory_entry> host_memory{};
};

/// Health probe result.
struct health_response {
  bool live = false;
  bool ready = false;
};

/// Server metadata (name, version, extensions) or model metadata (name, versions,
/// platform, inputs, outputs); fields of the other kind stay empty.
struct metadata_response {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<tensor_metadata> inputs;
  std::vector<tensor_metadata> outputs;
};

/// A tensor blob: `blob.name` is its content id (32 hex digits), and its bytes
/// travel in a frame of their own when large. The receiver re-hashes them.
struct fetch_blob_response {
  tensor_payload blob;
};

/// A block skeleton: its kind ("script" or "module") and its bytes.
struct fetch_skeleton_response {
  content_id skeleton_id;
  std::string kind;
  std::string data;
};

/// A model's manifest as the JSON text of docs/model-format.md.
struct fetch_manifest_response {
  std::string model_name;
  std::optional<int64_t> model_version;
  std::string manifest;
};

/// A successful reply of any operation; the index equals static_cast<size_t>(operation).
using response_body =
    std::variant<infer_response, model_load_response, model_unload_response, model_ready_response,
                 fuse_response, repository_index_response, server_status_response, health_response,
                 metadata_response, fetch_blob_response, fetch_skeleton_response,
                 fetch_manifest_response>;

/// The operation of a reply.
inline operation operation_of(const response_body& body) {
  return static_cast<operation>(body.index());
}

} // namespace tessera::transport
