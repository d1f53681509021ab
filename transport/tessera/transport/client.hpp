// The C++ client of the wire protocol: a DEALER socket that sends requests and
// matches replies to them by id. It keeps any number of requests in flight; a
// synchronous call() is send() plus wait_for(). One thread owns a client.
#pragma once

#include "tessera/transport/codec.hpp"
#include "tessera/transport/curve.hpp"
#include "tessera/transport/upload_pacer.hpp"

#include <chrono>
#include <map>
#include <set>
#include <string>

namespace tessera::transport {

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

  client(client&&) noexcept = default;
  client& operator=(client&&) noexcept = default;

  /// Sends a request and returns its id (`req.id`, or "c<n>" when empty). Waits at
  /// most `timeout` for a connected server: unavailable when none takes it in time.
  /// With an uplink share from the gateway, first waits until the share lets the
  /// message go (upload_pacer); overloaded, without sending, when that is past
  /// `timeout`.
  caf::expected<std::string> send(request req, duration timeout);

  /// The next reply to any request in flight (kept replies first). The outer error is
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

  client(zmq::socket_t socket, codec_limits limits);

  /// Reads one reply for a pending request, waiting until `deadline`.
  caf::expected<decoded<response_body>> read_reply(clock::time_point deadline);

  static caf::error unexpected_reply(const response_body& body);

  zmq::socket_t socket_;
  codec_limits limits_;
  uint64_t next_id_ = 1;
  std::set<std::string> pending_;
  std::map<std::string, caf::expected<response_body>> kept_;
  upload_pacer pacer_;
};

} // namespace tessera::transport
