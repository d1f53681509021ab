// The server side of the wire protocol, for the gateway: a ROUTER socket that yields
// decoded requests with their return address, and sends replies back to it. A plain
// class with no actors; the thread that owns the socket drives it.
#pragma once

#include "tessera/transport/codec.hpp"
#include "tessera/transport/curve.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <string>
#include <vector>

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
/// Replies a client is slow to take wait in a backlog of its own instead of
/// being dropped (decision 45).
struct reply_backlog_options {
  /// Bytes of replies one client may have waiting; a reply beyond is dropped.
  uint64_t max_bytes_per_peer = 64ull << 20;
  /// A client whose backlog has not moved for this long is taken for gone,
  /// and its waiting replies are dropped.
  std::chrono::milliseconds stall_timeout{30000};
};

/// A reply that was not delivered, and why: "client_gone" (the connection is
/// closed), "client_not_reading" (its backlog did not move for the stall
/// timeout) or "backlog_full" (its backlog held max_bytes_per_peer).
struct dropped_reply {
  std::string id;
  std::string reason;
};

class router_socket {
public:
  using duration = std::chrono::milliseconds;

  /// Binds to `endpoint` ("tcp://127.0.0.1:*" picks a free port; see endpoint()).
  /// Frames above twice limits.max_message_bytes make ZeroMQ drop the connection;
  /// smaller oversized messages are read and answered with message_too_large.
  /// With `curve` keys the socket is a CURVE server (run a zap_handler on `ctx`
  /// to choose which clients it admits). A connection that has not finished
  /// ZeroMQ's handshake (CURVE's included) within `handshake_timeout` is
  /// dropped; zero waits forever.
  static caf::expected<router_socket>
  bind(zmq::context_t& ctx, const std::string& endpoint, codec_limits limits = {},
       const curve_server_keys& curve = {},
       std::chrono::milliseconds handshake_timeout = std::chrono::milliseconds(5000));

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
  /// Never blocks: a reply the client's queue cannot take now waits in its
  /// backlog (flush() sends it later); a peer that is gone gives unavailable,
  /// a full backlog overloaded (the reply is dropped).
  caf::error reply(const peer& to, const std::string& id, const response_body& body,
                   const reply_advice& advice = {});

  /// Sends an error reply, with `advice` in its envelope.
  caf::error reply_error(const peer& to, const std::string& id, const caf::error& err,
                         const reply_advice& advice = {});

  /// The socket, to poll it together with others; do not read from it directly.
  zmq::socket_t& socket() {
    return socket_;
  }

  void set_backlog(reply_backlog_options opts) {
    backlog_opts_ = opts;
  }

  /// Sends what waits in the backlogs, in order, as far as the clients'
  /// queues take it; drops the backlogs of clients that are gone or have
  /// taken nothing for the stall timeout. Returns what it dropped.
  std::vector<dropped_reply> flush();

  /// Whether replies wait in some backlog (the caller should flush soon).
  bool backlogged() const {
    return !backlogs_.empty();
  }

  /// Replies waiting in backlogs, and their bytes.
  size_t backlog_replies() const;
  uint64_t backlog_bytes() const;

private:
  router_socket(zmq::socket_t socket, std::string endpoint, codec_limits limits);

  caf::error send_to(const peer& to, const std::string& id, frame_list frames);

  struct waiting_reply {
    std::string id;
    frame_list message; ///< routing id first
    uint64_t bytes = 0;
  };
  struct backlog {
    std::deque<waiting_reply> replies;
    uint64_t bytes = 0;
    std::chrono::steady_clock::time_point moved; ///< the last reply sent, or the first queued
  };

  zmq::socket_t socket_;
  std::string endpoint_;
  codec_limits limits_;
  reply_backlog_options backlog_opts_;
  std::map<std::string, backlog> backlogs_; ///< by routing id; only non-empty ones
};

} // namespace tessera::transport
