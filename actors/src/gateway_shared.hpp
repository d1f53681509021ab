// State shared by the gateway's socket thread and its actor: the outbox of
// replies (the actor posts, the thread sends) and the counters.
#pragma once

#include "tessera/actors/gateway.hpp"
#include "tessera/transport/router_socket.hpp"
#include "wake_queue.hpp"

#include <mutex>

namespace tessera::actors {

struct posted_reply {
  uint64_t ticket = 0;
  caf::expected<transport::response_body> body{caf::error{}};
};

struct gateway_shared {
  gateway_options opts;
  gateway_deps deps;
  zmq::context_t* ctx = nullptr;
  gateway_counters counters;
  std::atomic<bool> stopping{false};
  steady_time started = std::chrono::steady_clock::now();

  wake_queue<posted_reply> outbox;

  /// The socket thread's last uplink split, copied out for gateway::uplink().
  mutable std::mutex uplink_mtx;
  uplink_snapshot uplink_last;

  /// Queues a reply and wakes the socket thread (called from the actor).
  void post(uint64_t ticket, caf::expected<transport::response_body> body) {
    outbox.post(posted_reply{ticket, std::move(body)});
  }
};

/// Whether an infer request asked to run even past its deadline
/// (`parameters: {best_effort: true}`): then its deadline only orders the queue.
bool best_effort(const transport::infer_request& req);

/// `arrival` plus a budget of `ms` milliseconds, saturated: a budget past the
/// clock's range (from about 9.2e12 ms, where nanoseconds overflow) is no
/// deadline at all, never one in the past.
steady_time deadline_after(steady_time arrival, int64_t ms);

/// Spawns the actor that handles decoded requests.
caf::actor spawn_gateway_actor(caf::actor_system& sys, std::shared_ptr<gateway_shared> shared);

} // namespace tessera::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::transport::request_body)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::actors::steady_time)
