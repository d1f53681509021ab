#include "tessera/transport/router_socket.hpp"

#include "socket_io.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>

namespace tessera::transport {

using namespace detail;

router_socket::router_socket(zmq::socket_t socket, std::string endpoint, codec_limits limits)
    : socket_(std::move(socket)), endpoint_(std::move(endpoint)), limits_(limits) {
  // nop
}

caf::expected<router_socket> router_socket::bind(zmq::context_t& ctx, const std::string& endpoint,
                                                 codec_limits limits, const curve_server_keys& curve) {
  if (auto err = validate(limits))
    return err;
  try {
    zmq::socket_t socket{ctx, zmq::socket_type::router};
    socket.set(zmq::sockopt::linger, 0);
    // Unroutable replies fail loudly instead of vanishing.
    socket.set(zmq::sockopt::router_mandatory, true);
    socket.set(zmq::sockopt::maxmsgsize,
               static_cast<int64_t>(std::min<size_t>(limits.max_message_bytes * 2, INT64_MAX)));
    if (auto err = apply_curve_server(socket, curve))
      return err;
    socket.bind(endpoint);
    auto bound = socket.get(zmq::sockopt::last_endpoint);
    return router_socket{std::move(socket), std::move(bound), limits};
  } catch (const zmq::error_t& e) {
    return make_error(ec::invalid_argument, "cannot bind \"" + endpoint + "\": " + e.what());
  }
}

caf::expected<incoming_request> router_socket::receive(duration timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<duration>(deadline - std::chrono::steady_clock::now());
    if (!wait_for_socket(socket_, ZMQ_POLLIN, std::max(left, duration{0})))
      return make_error(ec::deadline_exceeded, "no request in time");
    auto frames = receive_message(socket_);
    if (!frames)
      return std::move(frames.error());
    if (frames->empty())
      continue;
    incoming_request in;
    in.from.routing_id = frames->front().to_string();
    size_t skip = 1;
    if (frames->size() > 2 && (*frames)[1].size() == 0) {
      in.from.delimiter = true;
      skip = 2;
    }
    frames->erase(frames->begin(), frames->begin() + static_cast<std::ptrdiff_t>(skip));
    in.request = decode_request(std::move(*frames), limits_);
    return in;
  }
}

caf::error router_socket::send_to(const peer& to, frame_list frames) {
  frame_list message;
  message.reserve(frames.size() + 2);
  message.emplace_back(to.routing_id.data(), to.routing_id.size());
  if (to.delimiter)
    message.emplace_back();
  for (auto& f : frames)
    message.push_back(std::move(f));
  return send_message(socket_, message, ec::overloaded);
}

caf::error router_socket::reply(const peer& to, const std::string& id, const response_body& body,
                                const reply_advice& advice) {
  auto frames = encode_response(id, body, limits_, advice);
  if (!frames) {
    // The client is still owed an answer: it gets the reason its reply failed.
    auto err = wrap(frames.error(), "encoding the reply");
    if (auto send_err = send_to(to, encode_error_response(id, err, advice)))
      return send_err;
    return err;
  }
  return send_to(to, std::move(*frames));
}

caf::error router_socket::reply_error(const peer& to, const std::string& id, const caf::error& err,
                                      const reply_advice& advice) {
  return send_to(to, encode_error_response(id, err, advice));
}

} // namespace tessera::transport
