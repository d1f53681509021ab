#include "client_options.hpp"

#include "tessera/core/error.hpp"

namespace tessera::cli {

void add_client_options(CLI::App* cmd, client_options& o) {
  cmd->add_option("--endpoint", o.endpoint, "the node's gateway")->capture_default_str();
  cmd->add_option("--timeout-ms", o.timeout_ms, "how long to wait for each reply")
      ->capture_default_str();
  cmd->add_option("--curve-server-key", o.curve_server_key,
                  "the node's CURVE public key (Z85 or a .pub file): connect with CURVE");
  cmd->add_option(
      "--curve-key", o.curve_key,
      "this client's CURVE secret key file (default: a fresh key, which the node refuses "
      "unless it admits any)");
  cmd->add_flag("--retry-on-reconnect", o.retry_on_reconnect,
                "when the connection drops with requests in flight and comes back (a node "
                "restarted), send the idempotent ones (infer, reads) once more");
}

caf::expected<transport::client> connect_client(zmq::context_t& zctx, const client_options& o,
                                                const std::string& endpoint) {
  transport::curve_client_keys curve;
  if (!o.curve_server_key.empty()) {
    auto server = transport::resolve_curve_key(o.curve_server_key);
    if (!server)
      return wrap(server.error(), "--curve-server-key");
    curve.server_key = *server;
    if (!o.curve_key.empty()) {
      auto secret = transport::read_curve_key_file(o.curve_key);
      if (!secret)
        return wrap(secret.error(), "--curve-key");
      curve.own.secret_key = *secret;
    }
  }
  return transport::client::connect(zctx, endpoint,
                                    transport::connect_options{{}, curve, o.retry_on_reconnect});
}

} // namespace tessera::cli
