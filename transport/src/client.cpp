#include "tessera/transport/client.hpp"

#include "socket_io.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <thread>

namespace tessera::transport {

using namespace detail;

namespace {

std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds{0});
}

} // namespace

client::client(zmq::socket_t socket, codec_limits limits)
    : socket_(std::move(socket)), limits_(limits) {
  // nop
}

caf::expected<client> client::connect(zmq::context_t& ctx, const std::string& endpoint,
                                      codec_limits limits, const curve_client_keys& curve) {
  if (auto err = validate(limits))
    return err;
  try {
    zmq::socket_t socket{ctx, zmq::socket_type::dealer};
    socket.set(zmq::sockopt::linger, 0);
    // Queue only to completed connections, so that no server means "unavailable"
    // instead of messages piling up for a peer that may never come.
    socket.set(zmq::sockopt::immediate, true);
    socket.set(zmq::sockopt::maxmsgsize,
               static_cast<int64_t>(std::min<size_t>(limits.max_message_bytes * 2, INT64_MAX)));
    if (auto err = apply_curve_client(socket, curve))
      return err;
    socket.connect(endpoint);
    return client{std::move(socket), limits};
  } catch (const zmq::error_t& e) {
    return make_error(ec::invalid_argument, "cannot connect to \"" + endpoint + "\": " + e.what());
  }
}

caf::expected<std::string> client::send(request req, duration timeout) {
  if (req.id.empty())
    req.id = "c" + std::to_string(next_id_++);
  if (pending_.count(req.id) > 0 || kept_.count(req.id) > 0)
    return make_error(ec::already_exists, "request id \"" + req.id + "\" is already in flight");
  auto frames = encode_request(req, limits_);
  if (!frames)
    return std::move(frames.error());
  auto now = clock::now();
  auto start = pacer_.next_start(now);
  if (start - now > timeout)
    return make_error(ec::overloaded, "the uplink share of " +
                                          std::to_string(pacer_.share().value_or(0)) +
                                          " B/s holds this upload past the timeout of " +
                                          std::to_string(timeout.count()) + " ms");
  std::this_thread::sleep_until(start);
  timeout -= std::chrono::duration_cast<duration>(start - now);
  if (!wait_for_socket(socket_, ZMQ_POLLOUT, timeout))
    return make_error(ec::unavailable, "no server took the request within " +
                                           std::to_string(timeout.count()) + " ms");
  uint64_t bytes = 0; // counted first: sending empties the frames
  for (const auto& f : *frames)
    bytes += f.size();
  if (auto err = send_message(socket_, *frames, ec::unavailable))
    return err;
  pacer_.sent(bytes, std::max(start, clock::now()));
  pending_.insert(req.id);
  return std::move(req.id);
}

caf::expected<decoded<response_body>> client::read_reply(clock::time_point deadline) {
  for (;;) {
    if (!wait_for_socket(socket_, ZMQ_POLLIN, remaining(deadline)))
      return make_error(ec::deadline_exceeded, "no reply in time");
    auto frames = receive_message(socket_);
    if (!frames)
      return std::move(frames.error());
    if (frames->empty())
      continue;
    auto reply = decode_response(std::move(*frames), limits_);
    pacer_.set_share(reply.uplink_share_bytes_per_s, clock::now());
    // A reply too broken to name its request belongs to the only one in flight.
    if (reply.id.empty() && pending_.size() == 1)
      reply.id = *pending_.begin();
    if (pending_.erase(reply.id) > 0)
      return reply;
    // Otherwise: a late reply to an abandoned request, or noise; drop it.
  }
}

caf::expected<decoded<response_body>> client::receive(duration timeout) {
  if (!kept_.empty()) {
    auto first = kept_.begin();
    decoded<response_body> out{first->first, std::move(first->second), std::nullopt};
    kept_.erase(first);
    return out;
  }
  return read_reply(clock::now() + timeout);
}

caf::expected<response_body> client::wait_for(const std::string& id, duration timeout) {
  if (auto i = kept_.find(id); i != kept_.end()) {
    auto out = std::move(i->second);
    kept_.erase(i);
    return out;
  }
  if (pending_.count(id) == 0)
    return make_error(ec::invalid_argument, "no request \"" + id + "\" in flight");
  auto deadline = clock::now() + timeout;
  for (;;) {
    auto reply = read_reply(deadline);
    if (!reply) {
      pending_.erase(id); // abandoned: its late reply will be dropped
      return wrap(reply.error(), "request \"" + id + "\"");
    }
    if (reply->id == id)
      return std::move(reply->value);
    kept_.emplace(reply->id, std::move(reply->value));
  }
}

caf::expected<response_body> client::call(request req, duration timeout) {
  auto deadline = clock::now() + timeout;
  auto id = send(std::move(req), timeout);
  if (!id)
    return std::move(id.error());
  return wait_for(*id, remaining(deadline));
}

caf::error client::unexpected_reply(const response_body& body) {
  return make_error(ec::malformed_request,
                    std::string{"reply: unexpected "} + to_string(operation_of(body)) + " reply");
}

} // namespace tessera::transport
