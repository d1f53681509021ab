#include "tessera/transport/connection_monitor.hpp"

#include "socket_io.hpp"

#include "tessera/core/error.hpp"

#include <atomic>
#include <cstring>
#include <string>

namespace tessera::transport {

connection_monitor::connection_monitor(zmq::socket_t events) : events_(std::move(events)) {
  // nop
}

caf::expected<connection_monitor> connection_monitor::attach(zmq::context_t& ctx,
                                                             zmq::socket_t& watched) {
  // Monitor endpoints share the context's inproc names, so each gets a number.
  static std::atomic<uint64_t> next_number{1};
  auto endpoint = "inproc://tessera-connection-monitor-" + std::to_string(next_number++);
  if (zmq_socket_monitor(watched.handle(), endpoint.c_str(),
                         ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0)
    return make_error(ec::unavailable,
                      std::string{"cannot monitor the socket: "} + zmq_strerror(zmq_errno()));
  try {
    zmq::socket_t events{ctx, zmq::socket_type::pair};
    events.set(zmq::sockopt::linger, 0);
    events.connect(endpoint);
    return connection_monitor{std::move(events)};
  } catch (const zmq::error_t& e) {
    zmq_socket_monitor(watched.handle(), nullptr, 0);
    return make_error(ec::unavailable,
                      std::string{"cannot read the socket's monitor: "} + e.what());
  }
}

std::optional<connection_event> connection_monitor::next() {
  for (;;) {
    auto frames = detail::receive_message(events_);
    if (!frames || frames->empty())
      return std::nullopt;
    // Frame 0: the event as uint16, then its value as uint32; frame 1: the endpoint.
    uint16_t event = 0;
    if ((*frames)[0].size() < sizeof event)
      continue;
    std::memcpy(&event, (*frames)[0].data(), sizeof event);
    if (event == ZMQ_EVENT_DISCONNECTED)
      return connection_event::dropped;
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
      return connection_event::ready;
  }
}

} // namespace tessera::transport
