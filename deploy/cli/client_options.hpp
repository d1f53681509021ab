// How the CLI's client commands (infer, call, top) reach a node: the gateway's
// endpoint, a reply timeout and, when the node uses CURVE, its public key and
// this client's secret key.
#pragma once

#include "tessera/transport/client.hpp"

#include <CLI/CLI.hpp>
#include <caf/expected.hpp>

#include <string>

namespace tessera::cli {

struct client_options {
  std::string endpoint = "tcp://127.0.0.1:5555";
  int timeout_ms = 30000;
  std::string curve_server_key; ///< Z85 or a .pub file; empty: no CURVE
  std::string curve_key;        ///< this client's secret key file; empty: a fresh pair
  /// Re-send idempotent requests once after the connection drops and comes
  /// back (transport::connect_options::retry_on_reconnect, docs/cluster.md).
  bool retry_on_reconnect = false;
};

/// --endpoint, --timeout-ms, --curve-server-key, --curve-key and --retry-on-reconnect.
void add_client_options(CLI::App* cmd, client_options& o);

/// Connects to `endpoint` as the options say, with CURVE when a server key is given.
caf::expected<transport::client> connect_client(zmq::context_t& zctx, const client_options& o,
                                                const std::string& endpoint);

/// The same, to the options' own endpoint.
inline caf::expected<transport::client> connect_client(zmq::context_t& zctx,
                                                       const client_options& o) {
  return connect_client(zctx, o, o.endpoint);
}

} // namespace tessera::cli
