// The bridge: this node's link to its peers. One thread owns a DEALER socket
// per peer (ZeroMQ sockets never leave their thread), sends the requests that
// actors hand it, matches replies, and sends heartbeats. A peer that misses
// its heartbeats is marked down: its requests in flight fail with
// ec::unavailable, so the scheduler can run them elsewhere. The same code runs
// over tcp:// between boxes and inproc:// inside one process.
#pragma once

#include "tessera/transport/codec.hpp"
#include "tessera/transport/curve.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tessera::actors {

struct bridge_options {
  std::chrono::milliseconds heartbeat_period{200};
  /// Heartbeats a peer may miss before it is marked down.
  int missed_heartbeats = 3;
  transport::codec_limits limits;
  /// CURVE: each peer's public key, in the order of the peers (empty: off),
  /// and this node's key pair.
  std::vector<std::string> curve_peer_keys;
  transport::curve_keypair curve_own;
};

struct peer_status {
  std::string endpoint;
  bool up = false;
  uint64_t requests = 0;
  uint64_t failures = 0;
};

struct bridge_shared;

class bridge {
public:
  using reply_handler = std::function<void(caf::expected<transport::response_body>)>;
  using peer_handler = std::function<void(size_t peer, bool up)>;

  /// Connects to every peer's gateway and starts the thread. `on_change` runs
  /// on the bridge thread whenever a peer goes up or down; it must not block.
  static caf::expected<std::unique_ptr<bridge>> start(zmq::context_t& ctx,
                                                      std::vector<std::string> peers,
                                                      peer_handler on_change,
                                                      bridge_options opts = {});

  /// Fails what is in flight with ec::unavailable and stops the thread.
  ~bridge();

  /// Sends `body` to a peer; `done` runs once, on the bridge thread, with the
  /// reply or an error (unavailable when the peer is or goes down). Thread-safe.
  void send(size_t peer, transport::request_body body, reply_handler done);

  std::vector<peer_status> peers() const;

private:
  bridge() = default;

  std::shared_ptr<bridge_shared> shared_;
  std::thread thread_;
};

} // namespace tessera::actors
