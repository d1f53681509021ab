#include "tessera/actors/bridge.hpp"

#include "tessera/core/error.hpp"
#include "wake_queue.hpp"

#include <zmq_addon.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>

#include <pthread.h>

namespace tessera::actors {

namespace {

using clock_type = std::chrono::steady_clock;

struct outgoing {
  size_t peer = 0;
  transport::request_body body;
  bridge::reply_handler done;
};

struct waiting {
  size_t peer = 0;
  bridge::reply_handler done; ///< empty for heartbeats
};

struct peer_link {
  std::unique_ptr<zmq::socket_t> socket;
  peer_status status;
  int missed = 0;
  bool heartbeat_out = false;
  std::string heartbeat_id;
};

} // namespace

struct bridge_shared {
  bridge_options opts;
  bridge::peer_handler on_change;
  std::atomic<bool> stopping{false};
  wake_queue<outgoing> outbox;
  std::mutex mtx; ///< guards snapshot
  std::vector<peer_status> snapshot;
};

caf::expected<std::unique_ptr<bridge>> bridge::start(zmq::context_t& ctx, std::vector<std::string> peers,
                                                     peer_handler on_change, bridge_options opts) {
  std::unique_ptr<bridge> b{new bridge};
  b->shared_ = std::make_shared<bridge_shared>();
  auto& sh = *b->shared_;
  sh.opts = opts;
  sh.on_change = std::move(on_change);
  if (auto err = sh.outbox.open(ctx, "inproc://tessera-bridge-wake-"
                                         + std::to_string(reinterpret_cast<uintptr_t>(b.get()))))
    return wrap(err, "bridge");
  auto links = std::make_shared<std::vector<peer_link>>();
  try {
    for (const auto& endpoint : peers) {
      peer_link link;
      link.socket = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
      link.socket->set(zmq::sockopt::linger, 0);
      // Queue only to peers that are connected: a dead peer fails fast.
      link.socket->set(zmq::sockopt::immediate, true);
      link.socket->set(zmq::sockopt::reconnect_ivl, 100);
      if (links->size() < opts.curve_peer_keys.size())
        if (auto err = transport::apply_curve_client(
              *link.socket, transport::curve_client_keys{opts.curve_peer_keys[links->size()], opts.curve_own}))
          return wrap(err, "bridge: peer " + endpoint);
      link.socket->connect(endpoint);
      link.status.endpoint = endpoint;
      links->push_back(std::move(link));
    }
  } catch (const zmq::error_t& e) {
    return make_error(ec::invalid_argument, std::string{"bridge: "} + e.what());
  }
  for (const auto& l : *links)
    sh.snapshot.push_back(l.status);
  b->thread_ = std::thread{[shared = b->shared_, links] {
    pthread_setname_np(pthread_self(), "tsr-bridge"); // shows in top -H and perf
    auto& sh = *shared;
    auto& peers = *links;
    std::map<std::string, waiting> in_flight;
    uint64_t next_id = 1;
    auto next_beat = clock_type::now();
    auto set_up = [&](size_t p, bool up) {
      if (peers[p].status.up == up)
        return;
      peers[p].status.up = up;
      {
        // peers() says so before on_change runs: a listener that registers
        // while this change is told, and misses it, reads it from peers().
        std::lock_guard<std::mutex> guard{sh.mtx};
        sh.snapshot[p].up = up;
      }
      if (!up) // everything in flight there fails now, so it can run elsewhere
        for (auto i = in_flight.begin(); i != in_flight.end();) {
          if (i->second.peer == p && i->second.done) {
            i->second.done(make_error(ec::unavailable, "peer " + peers[p].status.endpoint + " is down"));
            ++peers[p].status.failures;
            i = in_flight.erase(i);
          } else {
            ++i;
          }
        }
      if (sh.on_change)
        sh.on_change(p, up);
    };
    auto transmit = [&](size_t p, transport::request req) -> caf::error {
      auto frames = transport::encode_request(req, sh.opts.limits);
      if (!frames)
        return frames.error();
      try {
        auto sent = zmq::send_multipart(*peers[p].socket, *frames, zmq::send_flags::dontwait);
        if (!sent)
          return make_error(ec::unavailable, "peer " + peers[p].status.endpoint + " is not connected");
      } catch (const zmq::error_t& e) {
        return make_error(ec::unavailable, "peer " + peers[p].status.endpoint + ": " + e.what());
      }
      return {};
    };
    while (!sh.stopping.load()) {
      std::vector<zmq::pollitem_t> items;
      items.push_back({sh.outbox.pull().handle(), 0, ZMQ_POLLIN, 0});
      for (auto& l : peers)
        items.push_back({l.socket->handle(), 0, ZMQ_POLLIN, 0});
      try {
        // Outgoing work and replies wake the poll; by itself it wakes for
        // the next heartbeat (and to see that it should stop).
        auto until_beat = std::chrono::ceil<std::chrono::milliseconds>(next_beat - clock_type::now());
        zmq::poll(items.data(), items.size(),
                  std::clamp(until_beat, std::chrono::milliseconds(0), std::chrono::milliseconds(50)));
      } catch (const zmq::error_t&) {
        continue;
      }
      for (auto& w : sh.outbox.take((items[0].revents & ZMQ_POLLIN) != 0)) {
        if (w.peer >= peers.size() || !peers[w.peer].status.up) {
          w.done(make_error(ec::unavailable, "peer " + std::to_string(w.peer) + " is down"));
          continue;
        }
        auto id = "b" + std::to_string(next_id++);
        ++peers[w.peer].status.requests;
        if (auto err = transmit(w.peer, transport::request{id, std::move(w.body)})) {
          ++peers[w.peer].status.failures;
          w.done(err);
          set_up(w.peer, false); // the next heartbeat that gets through brings it back
          continue;
        }
        in_flight.emplace(id, waiting{w.peer, std::move(w.done)});
      }
      // Replies.
      for (size_t p = 0; p < peers.size(); ++p) {
        if ((items[p + 1].revents & ZMQ_POLLIN) == 0)
          continue;
        for (;;) {
          transport::frame_list frames;
          try {
            if (!zmq::recv_multipart(*peers[p].socket, std::back_inserter(frames), zmq::recv_flags::dontwait))
              break;
          } catch (const zmq::error_t&) {
            break;
          }
          auto reply = transport::decode_response(std::move(frames), sh.opts.limits);
          // Any answer shows the peer alive, a heartbeat's that came after
          // the next was sent too: a busy peer is slow, not gone.
          peers[p].missed = 0;
          if (reply.id == peers[p].heartbeat_id)
            peers[p].heartbeat_out = false;
          set_up(p, true);
          auto i = in_flight.find(reply.id);
          if (i == in_flight.end())
            continue; // a heartbeat, or abandoned (its peer went down meanwhile)
          auto done = std::move(i->second.done);
          in_flight.erase(i);
          done(std::move(reply.value));
        }
      }
      // Heartbeats: one outstanding health probe per peer and period.
      auto now = clock_type::now();
      if (now >= next_beat) {
        next_beat = now + sh.opts.heartbeat_period;
        for (size_t p = 0; p < peers.size(); ++p) {
          auto& l = peers[p];
          if (l.heartbeat_out && ++l.missed >= sh.opts.missed_heartbeats)
            set_up(p, false);
          l.heartbeat_id = "h" + std::to_string(next_id++);
          l.heartbeat_out = !transmit(p, transport::request{l.heartbeat_id, transport::health_request{}});
          if (!l.heartbeat_out && ++l.missed >= sh.opts.missed_heartbeats)
            set_up(p, false);
        }
        std::lock_guard<std::mutex> guard{sh.mtx};
        for (size_t p = 0; p < peers.size(); ++p)
          sh.snapshot[p] = peers[p].status;
      }
    }
    for (auto& [id, w] : in_flight)
      if (w.done)
        w.done(make_error(ec::unavailable, "the bridge is stopping"));
    for (auto& w : sh.outbox.take(false))
      w.done(make_error(ec::unavailable, "the bridge is stopping"));
  }};
  return b;
}

bridge::~bridge() {
  if (!shared_)
    return;
  shared_->stopping = true;
  if (thread_.joinable())
    thread_.join();
  shared_->outbox.close(); // before the context may be closed
}

void bridge::send(size_t peer, transport::request_body body, reply_handler done) {
  shared_->outbox.post(outgoing{peer, std::move(body), std::move(done)});
}

std::vector<peer_status> bridge::peers() const {
  std::lock_guard<std::mutex> guard{shared_->mtx};
  return shared_->snapshot;
}

} // namespace tessera::actors
