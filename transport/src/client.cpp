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

/// When the request's deadline_ms runs out if it is sent at `sent`; none without
/// one, or with one beyond the clock's range (taken as none, as the gateway does).
std::optional<std::chrono::steady_clock::time_point>
deadline_of(const request& req, std::chrono::steady_clock::time_point sent) {
  const auto* infer = std::get_if<infer_request>(&req.body);
  if (infer == nullptr || !infer->deadline_ms)
    return std::nullopt;
  auto room = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::time_point::max() - sent);
  if (*infer->deadline_ms >= room.count())
    return std::nullopt;
  return sent + std::chrono::milliseconds{*infer->deadline_ms};
}

} // namespace

client::client(zmq::socket_t socket, codec_limits limits, std::optional<connection_monitor> monitor)
    : socket_(std::move(socket)), limits_(limits), monitor_(std::move(monitor)) {
  // nop
}

caf::expected<client> client::connect(zmq::context_t& ctx, const std::string& endpoint,
                                      codec_limits limits, const curve_client_keys& curve) {
  return connect(ctx, endpoint, connect_options{limits, curve, false});
}

caf::expected<client> client::connect(zmq::context_t& ctx, const std::string& endpoint,
                                      const connect_options& options) {
  const auto& limits = options.limits;
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
    if (auto err = apply_curve_client(socket, options.curve))
      return err;
    std::optional<connection_monitor> monitor;
    if (options.retry_on_reconnect) {
      auto attached = connection_monitor::attach(ctx, socket);
      if (!attached)
        return std::move(attached.error());
      monitor = std::move(*attached);
    }
    socket.connect(endpoint);
    return client{std::move(socket), limits, std::move(monitor)};
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
  // Connection events from before this send are handled first: a drop seen only
  // after the request went out on a new connection would mark it lost, and it
  // would go out twice.
  if (monitor_)
    watch_connection();
  if (auto err = send_message(socket_, *frames, ec::unavailable))
    return err;
  pacer_.sent(bytes, std::max(start, clock::now()));
  in_flight_request entry;
  entry.deadline = deadline_of(req, clock::now());
  auto id = req.id;
  if (monitor_ && is_idempotent(operation_of(req.body)))
    entry.kept = std::move(req);
  pending_.emplace(id, std::move(entry));
  return id;
}

caf::expected<decoded<response_body>> client::read_reply(clock::time_point deadline) {
  for (;;) {
    if (!wait_for_input(deadline))
      return make_error(ec::deadline_exceeded, "no reply in time");
    auto frames = receive_message(socket_);
    if (!frames)
      return std::move(frames.error());
    if (frames->empty()) {
      if (monitor_)
        watch_connection(); // the connection changed, or nothing: a spurious wake-up
      continue;
    }
    auto reply = decode_response(std::move(*frames), limits_);
    pacer_.set_share(reply.uplink_share_bytes_per_s, clock::now());
    // A reply too broken to name its request belongs to the only one in flight.
    if (reply.id.empty() && pending_.size() == 1)
      reply.id = pending_.begin()->first;
    if (pending_.erase(reply.id) > 0)
      return reply;
    // Otherwise: a late reply to an abandoned request, the second reply to a
    // request that was re-sent, or noise; drop it.
  }
}

bool client::wait_for_input(clock::time_point deadline) {
  if (!monitor_)
    return wait_for_socket(socket_, ZMQ_POLLIN, remaining(deadline));
  return wait_for_either(socket_, monitor_->socket(), remaining(deadline));
}

void client::watch_connection() {
  while (auto event = monitor_->next()) {
    if (*event == connection_event::dropped) {
      for (auto& entry : pending_)
        entry.second.lost = true;
    } else {
      resend_lost();
    }
  }
}

void client::resend_lost() {
  auto now = clock::now();
  for (auto& [id, entry] : pending_) {
    if (!entry.lost)
      continue;
    entry.lost = false;
    if (!entry.kept)
      continue; // not idempotent, or it had its one re-send: it waits for its timeout
    auto req = std::move(*entry.kept);
    entry.kept.reset();
    if (entry.deadline) {
      auto left = std::chrono::duration_cast<duration>(*entry.deadline - now);
      if (left.count() <= 0)
        continue; // the gateway would refuse it; the caller's wait ends as usual
      // The new gateway counts from its own receipt: give it what is left.
      std::get<infer_request>(req.body).deadline_ms = left.count();
    }
    auto frames = encode_request(req, limits_);
    if (!frames)
      continue; // it was encoded once, so this cannot happen; it times out if it does
    uint64_t bytes = 0;
    for (const auto& f : *frames)
      bytes += f.size();
    // Not paced: the share came from the gateway that was lost, and the new one
    // sends its own with its first reply. A refused send leaves it to its timeout.
    if (!send_message(socket_, *frames, ec::unavailable))
      pacer_.sent(bytes, now);
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
