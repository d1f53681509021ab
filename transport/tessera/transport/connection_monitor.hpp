// Tells the thread that owns a socket when the socket's connection drops and when
// a new one is ready, through a ZeroMQ socket monitor. The events arrive on an
// inproc PAIR socket that the same thread polls beside the watched one, so the
// client stays single-threaded (it re-sends requests on reconnect with this).
#pragma once

#include <caf/expected.hpp>

#include <zmq.hpp>

#include <cstdint>
#include <optional>

namespace tessera::transport {

/// A change of a watched socket's connection.
enum class connection_event : uint8_t {
  /// ZMQ_EVENT_DISCONNECTED: a connection closed; what was in flight on it is lost.
  dropped,
  /// ZMQ_EVENT_HANDSHAKE_SUCCEEDED: a connection (CURVE's included) carries messages.
  ready,
};

/// The monitor of one socket. Owned by the thread that owns that socket.
class connection_monitor {
public:
  /// Starts watching `watched`, a socket of `ctx`; call it before `watched` connects.
  static caf::expected<connection_monitor> attach(zmq::context_t& ctx, zmq::socket_t& watched);

  connection_monitor(connection_monitor&&) noexcept = default;
  connection_monitor& operator=(connection_monitor&&) noexcept = default;

  /// The socket the events arrive on, to poll it beside the watched one.
  zmq::socket_t& socket() {
    return events_;
  }

  /// The next event, without waiting; none when no event waits.
  std::optional<connection_event> next();

private:
  explicit connection_monitor(zmq::socket_t events);

  zmq::socket_t events_;
};

} // namespace tessera::transport
