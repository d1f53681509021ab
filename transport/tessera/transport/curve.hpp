// CurveZMQ for the wire protocol: key pairs in Z85 text, key files, the socket
// options that make a ROUTER a CURVE server or a DEALER a CURVE client, and the
// ZAP handler that admits only the client keys on an allow-list.
#pragma once

#include <caf/expected.hpp>
#include <zmq.hpp>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>

namespace tessera::transport {

/// A CURVE key pair, each key 40 characters of Z85.
struct curve_keypair {
  std::string public_key;
  std::string secret_key;
};

/// What a server socket needs: its own secret key. Empty: CURVE is off.
struct curve_server_keys {
  std::string secret_key;
};

/// What a client socket needs: the server's public key and its own pair. An
/// empty server key turns CURVE off; an empty own pair gets a fresh one.
struct curve_client_keys {
  std::string server_key;
  curve_keypair own;
};

/// True when this libzmq was built with CURVE (libsodium).
bool curve_available();

/// Makes a fresh key pair (zmq_curve_keypair).
caf::expected<curve_keypair> generate_curve_keypair();

/// The public key that belongs to a Z85 secret key.
caf::expected<std::string> curve_public_key(const std::string& secret_key);

/// Checks that `key` is 40 characters of valid Z85 (32 bytes).
caf::error validate_curve_key(const std::string& key, const std::string& what);

/// Reads a key file: its first line is the Z85 key; `#` lines are comments.
caf::expected<std::string> read_curve_key_file(const std::string& path);

/// Accepts either a Z85 key or the path of a key file holding one.
caf::expected<std::string> resolve_curve_key(const std::string& key_or_path);

/// Writes NAME.key (the secret, mode 0600) and NAME.pub into `dir`; refuses to
/// overwrite unless `force`.
caf::error write_curve_keypair(const curve_keypair& keys, const std::string& dir,
                               const std::string& name, bool force);

/// Makes `socket` a CURVE server (before bind). A no-op for empty keys.
caf::error apply_curve_server(zmq::socket_t& socket, const curve_server_keys& keys);

/// Makes `socket` a CURVE client (before connect). A no-op for an empty server key.
caf::error apply_curve_client(zmq::socket_t& socket, const curve_client_keys& keys);

/// The ZAP handler of one ZeroMQ context: a thread with a REP socket on
/// inproc://zeromq.zap.01 that answers every CURVE handshake, admitting the
/// clients whose public key is on the allow-list ("*" admits every key). Only
/// one may run per context. Stop it (destroy it) before the context closes.
class zap_handler {
public:
  static caf::expected<std::unique_ptr<zap_handler>> start(zmq::context_t& ctx,
                                                           std::set<std::string> allowed);

  ~zap_handler();

  /// Handshakes admitted and refused so far.
  uint64_t admitted() const {
    return admitted_.load();
  }
  uint64_t refused() const {
    return refused_.load();
  }

private:
  zap_handler() = default;

  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> admitted_{0};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

} // namespace tessera::transport
