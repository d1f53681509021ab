// The operations of the client protocol and their wire names ("infer", "model_load",
// ...), and the node-to-node fetches a loader asks of its peers. The order matches the alternatives
// of request_body and response_body.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <string_view>

namespace tessera::transport {

/// An operation a client can ask for; the value is the variant index in
/// request_body and response_body.
enum class operation : uint8_t {
  infer,
  model_load,
  model_unload,
  model_ready,
  fuse,
  repository_index,
  server_status,
  health,
  metadata,
  fetch_blob,     ///< node to node: a tensor blob of the peer's store
  fetch_skeleton, ///< node to node: a block skeleton of the peer's store
  fetch_manifest, ///< node to node: a model's manifest
};

/// Number of operations.
constexpr size_t operation_count = 12;

/// Wire name of an operation: "infer", "model_load", ...
const char* to_string(operation op);

/// Whether sending the request again can change nothing that the first one did not:
/// inference and the reads. model_load, model_unload and fuse change the node's
/// state, so a client never repeats them on its own (client's retry_on_reconnect).
bool is_idempotent(operation op);

/// Parses a wire name; unknown names give ec::unknown_operation naming the text.
caf::expected<operation> parse_operation(std::string_view name);

} // namespace tessera::transport
