// The scheduler actor: queues jobs, places units (models, fused groups) on
// executors by free memory, resident shared blobs and queue length (re-placing
// and replicating them as load shifts), and hands idle executors the jobs of
// the units placed on them. The default order is reuse-aware: within the
// highest (aged) priority, a job whose model the idle executor already holds
// goes first (no load), then the earliest deadline. Waiting raises a job's
// priority (core/schedule_aging.hpp), so none starves. Jobs for one model whose inputs differ only in the batch dimension
// are run as one batch (dynamic batching), up to a row limit, optionally after
// waiting a little for more. Jobs that can no longer meet their deadline are
// answered with deadline_exceeded; jobs whose executor vanished run elsewhere.
// Jobs for members of a fused group an executor holds that share an input run
// in one pass of the group.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/core/fusion_policy.hpp"
#include "tessera/core/placement.hpp"
#include "tessera/core/schedule_aging.hpp"

#include <caf/actor_system.hpp>

#include <functional>
#include <map>

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

enum class placement_mode : uint8_t {
  scored,   ///< units are placed on executors by core/placement.hpp, jobs follow them
  any_idle, ///< any idle executor takes any job (no placement)
};

/// How units (models, fused groups) are placed on executors (docs/scheduling.md,
/// "Placement").
struct placement_settings {
  placement_mode mode = placement_mode::scored;
  placement_options policy;
  /// Models by name, with their distinct blobs, so resident shared blobs count;
  /// groups are known from the plans executors report. None: units are placed
  /// by what executors hold and by queue length only.
  std::shared_ptr<const std::map<std::string, placement_unit>> catalog;
  /// The node of each executor (executors of one node share its memory);
  /// empty: each executor is a node of its own.
  std::vector<uint32_t> nodes;
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
  placement_settings placement;
  /// How long an executor that failed a job as unavailable gets no work, when
  /// the bridge has not said it is down: a peer whose own loader timed out, a
  /// stream that stopped, a failure the bridge reported before the peer came
  /// back. Its jobs run elsewhere meanwhile; then it is tried again.
  std::chrono::milliseconds hold_off{1000};
  /// Deadline-aware admission and shedding (decision 44): a job with a
  /// deadline that cannot meet it even if every executor worked on its
  /// model's queue is answered `overloaded` at arrival, and one that reaches
  /// an executor too late to finish is answered `deadline_exceeded` instead of
  /// run, so the executors' time goes to jobs that can still make it. Off: jobs
  /// run until their deadline expires them.
  bool shed_late = true;
  /// A job that arrives while executors exist but none is up (a coordinator
  /// whose peers have not answered yet, after a restart) waits this long, or
  /// until its deadline, for one to come up; then it is answered unavailable.
  /// 0 refuses it at once.
  std::chrono::milliseconds wait_for_executor{5000};
};

/// The catalogue placement reads: each model's unit by name (the latest
/// version of each).
std::shared_ptr<const std::map<std::string, placement_unit>>
placement_catalogue(const std::vector<model_manifest>& models);

/// `up[i]` says whether executor i starts available (remote ones start down
/// until their first heartbeat); all are up when `up` is empty.
scheduler_actor spawn_scheduler(caf::actor_system& sys, std::vector<executor_actor> executors,
                                std::vector<bool> up = {}, scheduler_options opts = {});

} // namespace tessera::actors
