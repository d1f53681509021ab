// Internal: the few socket operations the client and the router share: waiting for
// a socket with a timeout, and moving whole multipart messages without blocking.
// ZeroMQ's exceptions stop here and become errors.
#pragma once

#include "tessera/core/error.hpp"
#include "tessera/transport/codec.hpp"

#include <chrono>

namespace tessera::transport::detail {

/// Waits until the socket can be read (ZMQ_POLLIN) or written (ZMQ_POLLOUT), at most
/// `timeout`; false on timeout or when the socket is unusable.
bool wait_for_socket(zmq::socket_t& socket, short events, std::chrono::milliseconds timeout);

/// Waits until either socket can be read, at most `timeout`; false on timeout or
/// when a socket is unusable.
bool wait_for_either(zmq::socket_t& first, zmq::socket_t& second,
                     std::chrono::milliseconds timeout);

/// Sends `frames` as one message without blocking. EAGAIN on the first frame gives
/// `busy_code`; a refused peer (ROUTER_MANDATORY) gives unavailable.
caf::error send_message(zmq::socket_t& socket, frame_list& frames, ec busy_code);

/// Reads every frame of one message without blocking; an empty list when none is
/// waiting; unavailable when the socket fails.
caf::expected<frame_list> receive_message(zmq::socket_t& socket);

} // namespace tessera::transport::detail
