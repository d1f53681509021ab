// The requests a client sends, one plain struct per operation, with the field names
// of the Open Inference Protocol (KServe v2). docs/protocol.md is their reference.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/transport/operation.hpp"
#include "tessera/transport/tensor_payload.hpp"

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace tessera::transport {

/// Runs a model on the given inputs.
struct infer_request {
  std::string model_name;
  std::optional<int64_t> model_version; ///< latest when absent
  std::vector<tensor_payload> inputs;   ///< at least one, unique names
  std::vector<std::string> outputs;     ///< requested outputs; all when empty
  parameter_map parameters;
  std::optional<int64_t> deadline_ms; ///< budget from arrival, >= 0
  int64_t priority = 0;               ///< higher runs first
};

/// Makes a model resident (only its blocks that are not yet resident are loaded).
struct model_load_request {
  std::string model_name;
  std::optional<int64_t> model_version;
  parameter_map parameters;
};

/// Releases a model; the reply comes once running work has released its pins.
struct model_unload_request {
  std::string model_name;
  std::optional<int64_t> model_version;
};

/// Asks whether a model can serve requests now.
struct model_ready_request {
  std::string model_name;
  std::optional<int64_t> model_version;
};

/// Merges models into one fused group that is loaded, run and swapped as a unit.
struct fuse_request {
  std::string group_name;
  std::vector<std::string> models; ///< at least two, "name" or "name:version"
  /// Define it on this node only. A node defines a group on its peers with
  /// this set, so that they do not pass it on in turn.
  bool local_only = false;
};

/// Lists the models the repository holds.
struct repository_index_request {
  bool ready_only = false;
};

/// Asks for the state of the node and of the cluster it sees.
struct server_status_request {};

/// Which health probe a client asks for (KServe's /v2/health/live and /ready).
enum class health_probe : uint8_t { live, ready };

/// Liveness or readiness probe.
struct health_request {
  health_probe probe = health_probe::ready;
};

/// Server metadata when model_name is absent, else that model's metadata.
struct metadata_request {
  std::optional<std::string> model_name;
  std::optional<int64_t> model_version;
};

/// Node to node: one tensor blob of the answering node's store, by content id.
struct fetch_blob_request {
  content_id blob_id;
};

/// Node to node: one block skeleton of the answering node's store, by content id.
struct fetch_skeleton_request {
  content_id skeleton_id;
};

/// Node to node: a model's manifest; the latest stored version when absent.
struct fetch_manifest_request {
  std::string model_name;
  std::optional<int64_t> model_version;
};

/// One request of any operation; the index equals static_cast<size_t>(operation).
using request_body =
    std::variant<infer_request, model_load_request, model_unload_request, model_ready_request,
                 fuse_request, repository_index_request, server_status_request, health_request,
                 metadata_request, fetch_blob_request, fetch_skeleton_request,
                 fetch_manifest_request>;

/// A request with the client's id, which the reply echoes.
struct request {
  std::string id;
  request_body body;
};

/// The operation of a request.
inline operation operation_of(const request_body& body) {
  return static_cast<operation>(body.index());
}

} // namespace tessera::transport
