#include "socket_io.hpp"

#include "tessera/core/error.hpp"

#include <zmq_addon.hpp>

#include <iterator>

namespace tessera::transport::detail {

bool wait_for_socket(zmq::socket_t& socket, short events, std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{socket.handle(), 0, events, 0};
  try {
    return zmq::poll(&item, 1, timeout) > 0 && (item.revents & events) != 0;
  } catch (const zmq::error_t&) {
    return false; // interrupted or terminated: the caller reports a timeout
  }
}

bool wait_for_either(zmq::socket_t& first, zmq::socket_t& second,
                     std::chrono::milliseconds timeout) {
  zmq::pollitem_t items[] = {{first.handle(), 0, ZMQ_POLLIN, 0},
                             {second.handle(), 0, ZMQ_POLLIN, 0}};
  try {
    return zmq::poll(items, 2, timeout) > 0;
  } catch (const zmq::error_t&) {
    return false;
  }
}

caf::error send_message(zmq::socket_t& socket, frame_list& frames, ec busy_code) {
  try {
    for (size_t i = 0; i < frames.size(); ++i) {
      auto flags = zmq::send_flags::dontwait;
      if (i + 1 < frames.size())
        flags = flags | zmq::send_flags::sndmore;
      if (!socket.send(frames[i], flags)) {
        // Only the first frame can be refused: ZeroMQ queues the rest of a message
        // once it has taken its first frame.
        return make_error(busy_code, "the socket's send queue is full");
      }
    }
    return {};
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH)
      return make_error(ec::unavailable, "the client is no longer connected");
    return make_error(ec::unavailable, std::string{"send failed: "} + e.what());
  }
}

caf::expected<frame_list> receive_message(zmq::socket_t& socket) {
  frame_list frames;
  try {
    if (!zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait))
      frames.clear();
    return frames;
  } catch (const zmq::error_t& e) {
    return make_error(ec::unavailable, std::string{"receive failed: "} + e.what());
  }
}

} // namespace tessera::transport::detail
