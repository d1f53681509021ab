// The server side of the wire protocol, for the gateway: a ROUTER socket that yields
// decoded requests with their return address, and sends replies back to it. A plain
// class with no actors; the thread that owns the socket drives it.
#pragma once

#include "tessera/transport/codec.hpp"
#include "tessera/transport/curve.hpp"

#include <chrono>
#include <string>

namespace tessera::transport {

/// Where a reply goes: the routing id ZeroMQ gave the client's connection.
struct peer {
  std::string routing_id;
  /// The client put an empty delimiter frame first (a REQ socket); the reply does too.
  bool delimiter = false;
};

/// One received message: its sender and the decoded request or error (with the id
/// recovered whenever possible, so that a failure can be answered).
struct incoming_request {
  peer from;
  decoded<request_body> request;
};

/// A bound ROUTER socket. Not thread-safe; one thread owns it.
class router_socket {
public:
  using duration = std::chrono::milliseconds;

  /// Binds to `endpoint` ("tcp://127.0.0.1:*" picks a free port; see endpoint()).
  /// Frames above twice limits.max_message_bytes make ZeroMQ drop the connection;
  /// smaller oversized messages are read and answered with message_too_large.
  /// With `curve` keys the socket is a CURVE server (run a zap_handler on `ctx`
  /// to choose which clients it admits).
  static caf::expected<router_socket> bind(zmq::context_t& ctx, const std::string& endpoint,
                                           codec_limits limits = {},
                                           const curve_server_keys& curve = {});

  router_socket(router_socket&&) noexcept = default;
  router_socket& operator=(router_socket&&) noexcept = default;

  /// The endpoint as bound, with the port resolved.
  const std::string& endpoint() const {
    return endpoint_;
  }

  const codec_limits& limits() const {
    return limits_;
  }

  /// The next message, waiting at most `timeout` (deadline_exceeded when none came).
  /// Decoding failures are not errors here: they arrive in `request.value`.
  caf::expected<incoming_request> receive(duration timeout);

  /// Sends a successful reply, with `advice` in its envelope. If the reply cannot be
  /// encoded, the client gets that error as its reply instead, and it is returned.
  /// Never blocks: a peer that is gone gives unavailable, a full queue overloaded.
  caf::error reply(const peer& to, const std::string& id, const response_body& body,
                   const reply_advice& advice = {});

  /// Sends an error reply, with `advice` in its envelope.
  caf::error reply_error(const peer& to, const std::string& id, const caf::error& err,
                         const reply_advice& advice = {});

  /// The socket, to poll it together with others; do not read from it directly.
  zmq::socket_t& socket() {
    return socket_;
  }

private:
  router_socket(zmq::socket_t socket, std::string endpoint, codec_limits limits);

  caf::error send_to(const peer& to, frame_list frames);

  zmq::socket_t socket_;
  std::string endpoint_;
  codec_limits limits_;
};

} // namespace tessera::transport
