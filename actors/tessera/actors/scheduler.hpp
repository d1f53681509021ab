// The scheduler actor: queues jobs and places them on idle executors. The
// default order is reuse-aware: within the highest (aged) priority, a job whose
// model the idle executor already holds goes first (no load), then the earliest
// deadline. Waiting raises a job's priority (core/schedule_aging.hpp), so none
// starves. Jobs for one model whose inputs differ only in the batch dimension
// are run as one batch (dynamic batching), up to a row limit, optionally after
// waiting a little for more. Jobs that can no longer meet their deadline are
// answered with deadline_exceeded; jobs whose executor vanished run elsewhere.
// Jobs for members of a fused group an executor holds that share an input run
// in one pass of the group.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/core/fusion_policy.hpp"
#include "tessera/core/schedule_aging.hpp"

#include <caf/actor_system.hpp>

#include <functional>

namespace tessera::store {
class block_store;
} // namespace tessera::store

namespace tessera::actors {

/// Proposing fused groups from co-request statistics (core/fusion_policy.hpp):
/// the scheduler counts which models are requested together, and every
/// `every_requests` requests an advisor actor runs the policy over the store's
/// catalogue and defines the groups it proposes (docs/fusion.md, "Automatic
/// groups"). Executors then serve their members from the group.
struct auto_fuse_options {
  /// Off by default (node_config auto_fuse).
  bool enabled = false;
  /// Two models requested within this window count as requested together.
  double window_ms = 100.0;
  /// The policy runs after every this many requests.
  uint64_t every_requests = 200;
  grouping_options grouping;
  /// Where the catalogue is read and proposed groups are defined; none: off.
  const store::block_store* store = nullptr;
};

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
  auto_fuse_options auto_fuse;
};

/// `up[i]` says whether executor i starts available (remote ones start down
/// until their first heartbeat); all are up when `up` is empty.
scheduler_actor spawn_scheduler(caf::actor_system& sys, std::vector<executor_actor> executors,
                                std::vector<bool> up = {}, scheduler_options opts = {});

} // namespace tessera::actors
