// The bridge's heartbeats against a peer of the test's own: a ROUTER socket on
// inproc:// that answers health probes late, later than the next probe is
// sent, as a node busy on two cores does. Such a peer is slow, not gone: it
// must come up and stay up, and go down only once it falls silent.
#include "tessera/actors/bridge.hpp"

#include "tessera/transport/codec.hpp"

#include <zmq_addon.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

using namespace tessera;
using namespace tessera::actors;
using namespace tessera::transport;

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Answers each health probe `delay` after it came, until told to fall silent.
class late_peer {
public:
  late_peer(zmq::context_t& ctx, std::string endpoint, std::chrono::milliseconds delay)
      : endpoint_(std::move(endpoint)), delay_(delay), socket_(ctx, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind(endpoint_);
    thread_ = std::thread{[this] { run(); }};
  }
  ~late_peer() {
    stop_ = true;
    thread_.join();
  }
  void fall_silent() {
    silent_ = true;
  }
  size_t answered() const {
    return answered_.load();
  }

private:
  struct due {
    clock_type::time_point at;
    frame_list reply;
  };

  void run() {
    std::deque<due> queue;
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 5ms);
      if ((item.revents & ZMQ_POLLIN) != 0) {
        frame_list frames;
        if (zmq::recv_multipart(socket_, std::back_inserter(frames))) {
          auto routing = std::move(frames.front());
          frames.erase(frames.begin());
          auto req = decode_request(std::move(frames));
          if (req.value && std::holds_alternative<health_request>(*req.value) && !silent_) {
            auto body = encode_response(req.id, health_response{true, true});
            if (!body)
              continue; // never: a health answer always encodes
            frame_list out;
            out.push_back(std::move(routing));
            for (auto& f : *body)
              out.push_back(std::move(f));
            queue.push_back({clock_type::now() + delay_, std::move(out)});
          }
        }
      }
      while (!queue.empty() && queue.front().at <= clock_type::now()) {
        if (!silent_) {
          zmq::send_multipart(socket_, queue.front().reply);
          ++answered_;
        }
        queue.pop_front();
      }
    }
  }

  std::string endpoint_;
  std::chrono::milliseconds delay_;
  zmq::socket_t socket_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> silent_{false};
  std::atomic<size_t> answered_{0};
  std::thread thread_;
};

// What the bridge said of its one peer, in order.
struct changes {
  std::mutex mtx;
  std::vector<bool> said;

  void add(bool up) {
    std::lock_guard<std::mutex> guard{mtx};
    said.push_back(up);
  }
  std::vector<bool> get() {
    std::lock_guard<std::mutex> guard{mtx};
    return said;
  }
  bool wait_for(bool up, std::chrono::milliseconds limit) {
    for (auto end = clock_type::now() + limit; clock_type::now() < end;
         std::this_thread::sleep_for(10ms)) {
      auto s = get();
      if (!s.empty() && s.back() == up)
        return true;
    }
    return false;
  }
};

} // namespace

TEST_SUITE("bridge") {
  TEST_CASE("a peer that answers every heartbeat late stays up, and goes down once silent") {
    zmq::context_t ctx{1};
    // Each answer comes half a period after the next probe has left; a peer
    // is marked down after five periods without any answer.
    bridge_options opts;
    opts.heartbeat_period = 100ms;
    opts.missed_heartbeats = 5;
    late_peer peer{ctx, "inproc://bridge-late-peer", 150ms};
    changes seen;
    auto b = bridge::start(
        ctx, {"inproc://bridge-late-peer"}, [&seen](size_t, bool up) { seen.add(up); }, opts);
    REQUIRE(b);
    REQUIRE_MESSAGE(seen.wait_for(true, 5000ms), "the bridge never saw the late peer up");
    // Once told, peers() says so too: a node that sets its listener late
    // reads from peers() what it missed (node::set_peer_target).
    CHECK((*b)->peers().at(0).up);
    std::this_thread::sleep_for(1500ms);
    CHECK(peer.answered() >= 8);
    CHECK(seen.get() == std::vector<bool>{true}); // up once, never down
    CHECK((*b)->peers().at(0).up);
    peer.fall_silent();
    CHECK_MESSAGE(seen.wait_for(false, 5000ms), "the bridge never saw the silent peer go down");
    CHECK(seen.get() == std::vector<bool>{true, false});
  }
}
