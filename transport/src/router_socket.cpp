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
                                                 codec_limits limits,
                                                 const curve_server_keys& curve,
                                                 std::chrono::milliseconds handshake_timeout) {
  if (auto err = validate(limits))
    return err;
  try {
    zmq::socket_t socket{ctx, zmq::socket_type::router};
    socket.set(zmq::sockopt::linger, 0);
    // Unroutable replies fail loudly instead of vanishing.
    socket.set(zmq::sockopt::router_mandatory, true);
    socket.set(zmq::sockopt::maxmsgsize,
               static_cast<int64_t>(std::min<size_t>(limits.max_message_bytes * 2, INT64_MAX)));
    // A connection that never completes the handshake (a raw TCP connect, a
    // client without the right key) holds a descriptor until this runs out.
    socket.set(zmq::sockopt::handshake_ivl,
               static_cast<int>(std::min<int64_t>(handshake_timeout.count(), INT32_MAX)));
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

caf::error router_socket::send_to(const peer& to, const std::string& id, frame_list frames) {
  frame_list message;
  message.reserve(frames.size() + 2);
  message.emplace_back(to.routing_id.data(), to.routing_id.size());
  if (to.delimiter)
    message.emplace_back();
  uint64_t bytes = 0;
  for (auto& f : frames) {
    bytes += f.size();
    message.push_back(std::move(f));
  }
  auto waiting = backlogs_.find(to.routing_id);
  if (waiting == backlogs_.end()) {
    auto err = send_message(socket_, message, ec::overloaded);
    if (code_of(err) != ec::overloaded)
      return err; // sent, or the client is gone
  }
  // The client's queue is full (or replies wait before this one): the reply
  // waits its turn, within the client's bound.
  auto& b = backlogs_[to.routing_id];
  if (b.replies.empty())
    b.moved = std::chrono::steady_clock::now();
  if (b.bytes + bytes > backlog_opts_.max_bytes_per_peer) {
    auto full = make_error(ec::overloaded, "the client's reply backlog is full (" +
                                               std::to_string(b.bytes >> 20) + " MiB waiting)");
    if (b.replies.empty())
      backlogs_.erase(to.routing_id); // `b` goes with it
    return full;
  }
  b.bytes += bytes;
  b.replies.push_back({id, std::move(message), bytes});
  return {};
}

std::vector<dropped_reply> router_socket::flush() {
  std::vector<dropped_reply> dropped;
  auto now = std::chrono::steady_clock::now();
  auto drop_all = [&](backlog& b, const char* reason) {
    for (const auto& r : b.replies)
      dropped.push_back({r.id, reason});
  };
  for (auto i = backlogs_.begin(); i != backlogs_.end();) {
    auto& b = i->second;
    while (!b.replies.empty()) {
      auto err = send_message(socket_, b.replies.front().message, ec::overloaded);
      if (code_of(err) == ec::overloaded)
        break; // still full
      if (err) {
        drop_all(b, "client_gone");
        b.replies.clear();
        break;
      }
      b.bytes -= b.replies.front().bytes;
      b.replies.pop_front();
      b.moved = now;
    }
    if (!b.replies.empty() && now - b.moved > backlog_opts_.stall_timeout) {
      drop_all(b, "client_not_reading");
      b.replies.clear();
    }
    i = b.replies.empty() ? backlogs_.erase(i) : std::next(i);
  }
  return dropped;
}

size_t router_socket::backlog_replies() const {
  size_t n = 0;
  for (const auto& [peer, b] : backlogs_)
    n += b.replies.size();
  return n;
}

uint64_t router_socket::backlog_bytes() const {
  uint64_t n = 0;
  for (const auto& [peer, b] : backlogs_)
    n += b.bytes;
  return n;
}

caf::error router_socket::reply(const peer& to, const std::string& id, const response_body& body,
                                const reply_advice& advice) {
  auto frames = encode_response(id, body, limits_, advice);
  if (!frames) {
    // The client is still owed an answer: it gets the reason its reply failed.
    auto err = wrap(frames.error(), "encoding the reply");
    if (auto send_err = send_to(to, id, encode_error_response(id, err, advice)))
      return send_err;
    return err;
  }
  return send_to(to, id, std::move(*frames));
}

caf::error router_socket::reply_error(const peer& to, const std::string& id, const caf::error& err,
                                      const reply_advice& advice) {
  return send_to(to, id, encode_error_response(id, err, advice));
}

} // namespace tessera::transport
