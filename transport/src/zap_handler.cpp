// The ZAP handler (ZeroMQ RFC 27): libzmq asks inproc://zeromq.zap.01 about
// every CURVE handshake on the context, and this thread answers 200 for a
// client key on the allow-list and 400 for any other.
#include "tessera/transport/curve.hpp"

#include "tessera/core/error.hpp"

#include <zmq_addon.hpp>

#include <vector>

namespace tessera::transport {

namespace {

constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";

std::string z85_of(const zmq::message_t& key) {
  if (key.size() != 32)
    return {};
  char text[41] = {};
  if (zmq_z85_encode(text, static_cast<const uint8_t*>(key.data()), 32) == nullptr)
    return {};
  return text;
}

} // namespace

caf::expected<std::unique_ptr<zap_handler>> zap_handler::start(zmq::context_t& ctx,
                                                               std::set<std::string> allowed) {
  auto socket = std::make_shared<zmq::socket_t>(ctx, zmq::socket_type::rep);
  try {
    socket->set(zmq::sockopt::linger, 0);
    socket->bind(zap_endpoint);
  } catch (const zmq::error_t& e) {
    return make_error(ec::already_exists, std::string{"ZAP handler: cannot bind "} + zap_endpoint +
                                              " (one per ZeroMQ context): " + e.what());
  }
  std::unique_ptr<zap_handler> h{new zap_handler};
  auto* self = h.get();
  h->thread_ = std::thread{[self, socket, allowed = std::move(allowed)] {
    bool any = allowed.count("*") > 0;
    while (!self->stopping_.load()) {
      std::vector<zmq::message_t> request;
      try {
        zmq::pollitem_t item{socket->handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) == 0)
          continue;
        if (!zmq::recv_multipart(*socket, std::back_inserter(request)))
          continue;
      } catch (const zmq::error_t&) {
        continue;
      }
      // version, request id, domain, address, identity, mechanism, credentials...
      if (request.size() < 6)
        continue; // not ZAP; REP still owes a reply, but libzmq never sends this
      bool ok = false;
      if (request[5].to_string() == "CURVE" && request.size() >= 7) {
        auto key = z85_of(request[6]);
        ok = !key.empty() && (any || allowed.count(key) > 0);
      }
      (ok ? self->admitted_ : self->refused_)++;
      std::vector<zmq::message_t> reply;
      reply.emplace_back(std::string{"1.0"});
      reply.push_back(std::move(request[1]));
      reply.emplace_back(std::string{ok ? "200" : "400"});
      reply.emplace_back(std::string{ok ? "OK" : "client key not on the allow-list"});
      reply.emplace_back(); // user id
      reply.emplace_back(); // metadata
      try {
        zmq::send_multipart(*socket, reply);
      } catch (const zmq::error_t&) {
        // The handshake times out on the client's side.
      }
    }
  }};
  return h;
}

zap_handler::~zap_handler() {
  stopping_ = true;
  if (thread_.joinable())
    thread_.join();
}

} // namespace tessera::transport
