// The scheduler actor: queues jobs and places them on idle executors. The
// default order is reuse-aware: within the highest (aged) priority, a job whose
// model the idle executor already holds goes first (no load), then the earliest
// deadline. Waiting raises a job's priority (core/schedule_aging.hpp), so none
// starves. Jobs for one model whose inputs differ only in the batch dimension
// are run as one batch (dynamic batching), up to a row limit, optionally after
// waiting a little for more. Jobs that can no longer meet their deadline are
// answered with deadline_exceeded; jobs whose executor vanished run elsewhere.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/core/schedule_aging.hpp"

#include <caf/actor_system.hpp>

#include <functional>

namespace tessera::actors {

enum class queue_order : uint8_t {
  reuse_aware, ///< held models first, then earliest deadline
  edf,         ///< earliest deadline first, blind to what is loaded
  fifo,        ///< arrival order
};

struct scheduler_options {
  queue_order order = queue_order::reuse_aware;
  /// Rows one batch may hold; 1 (the default) turns dynamic batching off.
  uint32_t max_batch_rows = 1;
  /// How long a job may wait for others to join its batch.
  std::chrono::microseconds max_queue_delay{0};
  aging_policy aging;
  /// The clock that judges deadlines, queue waits and aging. Empty means
  /// steady_clock; the simulator passes its virtual clock, so queue expiry
  /// follows virtual time.
  std::function<steady_time()> clock;
};

/// `up[i]` says whether executor i starts available (remote ones start down
/// until their first heartbeat); all are up when `up` is empty.
scheduler_actor spawn_scheduler(caf::actor_system& sys, std::vector<executor_actor> executors,
                                std::vector<bool> up = {}, scheduler_options opts = {});

} // namespace tessera::actors
