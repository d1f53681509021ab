// The C++ client of the wire protocol: a DEALER socket that sends requests and
// matches replies to them by id. It keeps any number of requests in flight; a
// synchronous call() is send() plus wait_for(). One thread owns a client.
#pragma once

#include "tessera/transport/codec.hpp"
#include "tessera/transport/connection_monitor.hpp"
#include "tessera/transport/curve.hpp"
#include "tessera/transport/upload_pacer.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace tessera::transport {

/// How a client connects, and what it does when its connection drops.
struct connect_options {
  codec_limits limits;
  /// With a server key, the connection is a CURVE client.
  curve_client_keys curve;
  /// When the connection to the gateway drops and a new one is made, re-send each
  /// idempotent request (is_idempotent) that was in flight on the old one, once,
  /// with its id, unless its deadline_ms has passed since it was sent (an infer
  /// re-sent carries what is left of it). Off, such requests get deadline_exceeded
  /// when their wait ends, as the others always do.
  bool retry_on_reconnect = false;
};

/// A connection to a gateway. Frames go out without a delimiter: the DEALER sends
/// [header, data...] and the ROUTER sees [routing id, header, data...].
/// Not thread-safe, like the socket it owns; use one client per thread.
class client {
public:
  using duration = std::chrono::milliseconds;

  /// Connects to `endpoint` ("tcp://host:port", or "inproc://name" on the server's
  /// context). Fails with invalid_argument for an endpoint ZeroMQ refuses. With a
  /// `curve` server key the connection is a CURVE client: a server that refuses
  /// its key never completes the handshake, so send() reports unavailable.
  static caf::expected<client> connect(zmq::context_t& ctx, const std::string& endpoint,
                                       codec_limits limits = {},
                                       const curve_client_keys& curve = {});

  /// connect() with the options above; `retry_on_reconnect` watches the connection
  /// with a socket monitor, polled by the thread that reads replies.
  static caf::expected<client> connect(zmq::context_t& ctx, const std::string& endpoint,
                                       const connect_options& options);

  client(client&&) noexcept = default;
  client& operator=(client&&) noexcept = default;

  /// Sends a request and returns its id (`req.id`, or "c<n>" when empty). Waits at
  /// most `timeout` for a connected server: unavailable when none takes it in time.
  /// With an uplink share from the gateway, first waits until the share lets the
  /// message go (upload_pacer); overloaded, without sending, when that is past
  /// `timeout`.
  caf::expected<std::string> send(request req, duration timeout);

  /// The next reply to any request in flight (kept replies first). A reply to a
  /// request that was re-sent comes once: a second one is dropped. The outer error is
  /// deadline_exceeded when nothing arrives in time; the inner one is the server's
  /// error reply, or a reply that could not be decoded.
  caf::expected<decoded<response_body>> receive(duration timeout);

  /// The reply to `id`; replies to other requests that arrive meanwhile are kept for
  /// their own wait_for() or receive(). After a timeout (deadline_exceeded) the request
  /// is abandoned and a late reply is dropped.
  caf::expected<response_body> wait_for(const std::string& id, duration timeout);

  /// Sends `req` and waits for its reply, all within `timeout`.
  caf::expected<response_body> call(request req, duration timeout);

  /// call() that also checks the reply is of the expected type.
  template <class Response>
  caf::expected<Response> call_as(request req, duration timeout) {
    auto body = call(std::move(req), timeout);
    if (!body)
      return std::move(body.error());
    if (auto* r = std::get_if<Response>(&*body))
      return std::move(*r);
    return unexpected_reply(*body);
  }

  /// Requests sent whose replies have not been handed out yet.
  size_t in_flight() const {
    return pending_.size() + kept_.size();
  }

  /// The socket, to poll it together with others; do not read from it directly.
  zmq::socket_t& socket() {
    return socket_;
  }

  /// The uplink share the last reply gave, in bytes per second; none when the
  /// gateway sets no shares (then sends are not paced).
  std::optional<uint64_t> uplink_share() const {
    return pacer_.share();
  }

private:
  using clock = std::chrono::steady_clock;

  /// A request sent whose reply has not come.
  struct in_flight_request {
    /// The request, kept to re-send it once: only with retry_on_reconnect, for an
    /// idempotent operation, until its re-send. Its tensors share the caller's
    /// buffers, so keeping it copies no tensor bytes.
    std::optional<request> kept;
    /// When its deadline_ms runs out, counted from the first send; none without one.
    std::optional<clock::time_point> deadline;
    /// It was in flight when the connection dropped: re-send it when one is ready.
    bool lost = false;
  };

  client(zmq::socket_t socket, codec_limits limits, std::optional<connection_monitor> monitor);

  /// Reads one reply for a pending request, waiting until `deadline`.
  caf::expected<decoded<response_body>> read_reply(clock::time_point deadline);

  /// Waits until a reply or a connection event can be read, at most until `deadline`.
  bool wait_for_input(clock::time_point deadline);

  /// Handles the connection events that wait: a drop marks what is in flight as
  /// lost, and the next ready connection re-sends what was lost and is kept.
  void watch_connection();
  void resend_lost();

  static caf::error unexpected_reply(const response_body& body);

  zmq::socket_t socket_;
  codec_limits limits_;
  uint64_t next_id_ = 1;
  std::map<std::string, in_flight_request> pending_;
  std::map<std::string, caf::expected<response_body>> kept_;
  upload_pacer pacer_;
  std::optional<connection_monitor> monitor_; ///< only with retry_on_reconnect
};

} // namespace tessera::transport
