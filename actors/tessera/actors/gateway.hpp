// The gateway: the node's face to clients. A dedicated thread owns the ZeroMQ
// ROUTER socket (sockets never leave their thread), decodes requests, applies
// admission control, and answers each request exactly once: with the result
// the gateway actor posts back, or with an error (malformed input, overload,
// deadline). The gateway actor validates requests against the model's
// manifest and drives the scheduler and executors; it never blocks.
#pragma once

#include "tessera/actors/executor_board.hpp"
#include "tessera/actors/loader.hpp"
#include "tessera/actors/messages.hpp"
#include "tessera/actors/model_states.hpp"
#include "tessera/actors/request_metrics.hpp"
#include "tessera/actors/uplink_shares.hpp"
#include "tessera/residency/host_memory.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/transport/codec_limits.hpp"
#include "tessera/transport/curve.hpp"
#include "tessera/transport/router_socket.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <zmq.hpp>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>

namespace tessera::actors {

struct gateway_options {
  std::string endpoint = "tcp://127.0.0.1:5555";
  std::string node_name = "tessera";
  /// The node's device ("cpu", "cuda:0"), as status replies name it.
  std::string device = "cpu";
  transport::codec_limits limits;
  /// Requests in flight beyond this many, or beyond this many bytes of
  /// request inputs in flight, are refused with ec::overloaded at once (node
  /// keys max_in_flight_requests and max_in_flight_bytes).
  size_t max_in_flight = 1024;
  uint64_t max_in_flight_bytes = 512ull << 20;
  /// Replies a slow client cannot take yet wait in its backlog, within bounds.
  transport::reply_backlog_options backlog;
  /// Where answered requests are logged; none when empty.
  std::shared_ptr<class request_log> log;
  /// CURVE: the gateway's secret key (empty: off) and the client public keys
  /// its ZAP handler admits ("*": any).
  transport::curve_server_keys curve;
  std::set<std::string> curve_allow;
  /// A connection that has not finished its handshake by then is dropped
  /// (node key handshake_timeout_ms; zero waits forever).
  std::chrono::milliseconds handshake_timeout{5000};
  /// The clients' shared uplink: with a capacity, every reply to a client
  /// that has inferences in flight or lately carries its share (decision 30).
  uplink_options uplink;
};

/// What the gateway actor talks to; the node owns all of it.
struct gateway_deps {
  scheduler_actor scheduler;
  std::vector<executor_actor> executors;
  const store::block_store* store = nullptr;
  residency::residency_manager* residency = nullptr;
  /// The peers this node schedules onto, if any (status replies; a fused
  /// group defined here is defined on them too).
  class bridge* peers = nullptr;
  /// Serves the peers' fetch_* requests and, with `fetch_from_peers`, makes a
  /// model complete in the store before it is loaded or run.
  loader_actor loader;
  bool fetch_from_peers = false;
  /// The model registry (registry.hpp): the gateway looks models and groups
  /// up in its catalogue, starting from `catalog`, and defines groups there.
  caf::actor registry;
  catalog_ptr catalog;
  /// The lifecycle states and the executor states this node's executors
  /// publish (may be null: then they are asked).
  const model_states* states = nullptr;
  const executor_board* board = nullptr;
  /// `executors` starts with this many of this node's own; the rest are
  /// peers' (remote executors), asked for what they hold.
  size_t local_executors = 0;
  /// The host memory budget's figures, for status replies; may be null.
  const residency::host_memory_keeper* host_memory = nullptr;
};

struct gateway_counters {
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> answered{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> expired{0};
  std::atomic<uint64_t> in_flight{0};
  /// Bytes of the inputs of the requests in flight (the host memory budget's
  /// request buffers).
  std::atomic<uint64_t> in_flight_bytes{0};
  /// Replies waiting in slow clients' backlogs (decision 45).
  std::atomic<uint64_t> backlog_replies{0};
  /// Replies not delivered, by reason (transport::dropped_reply).
  struct drop_counts {
    std::atomic<uint64_t> client_gone{0};
    std::atomic<uint64_t> client_not_reading{0};
    std::atomic<uint64_t> backlog_full{0};
    void record(const std::string& reason) {
      auto& c = reason == "client_gone"          ? client_gone
                : reason == "client_not_reading" ? client_not_reading
                                                 : backlog_full;
      ++c;
    }
  } replies_dropped;
  /// Per operation, model and outcome, with latencies (for /metrics).
  request_metrics requests;
};

struct gateway_shared;

class gateway {
public:
  /// Binds the socket, spawns the gateway actor and starts the socket thread.
  static caf::expected<std::unique_ptr<gateway>> start(caf::actor_system& sys, zmq::context_t& ctx,
                                                       gateway_options opts, gateway_deps deps);

  /// Stops the socket thread; requests still in flight are answered with
  /// ec::unavailable first.
  ~gateway();

  void stop();

  /// The bound endpoint, with the port resolved.
  const std::string& endpoint() const {
    return endpoint_;
  }

  const gateway_counters& counters() const;

  /// The actor behind the socket thread; it also takes (peer_atom, peer
  /// index, up) from the bridge, to define stored groups on a returning peer.
  const caf::actor& actor() const {
    return actor_;
  }

  /// The last split of the uplink among the clients (empty when shares are off).
  uplink_snapshot uplink() const;

  /// The ZAP handler's counts, with CURVE; null without.
  const transport::zap_handler* zap() const {
    return zap_.get();
  }

private:
  gateway() = default;
  void run();

  std::shared_ptr<gateway_shared> shared_;
  std::unique_ptr<transport::zap_handler> zap_; ///< with CURVE only
  std::string endpoint_;
  caf::actor actor_;
  std::thread thread_;
};

} // namespace tessera::actors
