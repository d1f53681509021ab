// The messages the node's actors exchange, and their typed interfaces. Jobs and
// outcomes carry tensor_buffers (shared, immutable bytes) and never leave the
// process as CAF messages: between boxes and to clients, MessagePack on ZeroMQ
// carries them (transport/). That is why they are allowed as unsafe (not
// serializable) message types here.
#pragma once

#include "tessera/actors/latency_histogram.hpp"
#include "tessera/core/fusion_plan.hpp"
#include "tessera/core/fusion_policy.hpp"
#include "tessera/core/memory_pressure.hpp"
#include "tessera/core/tensor_buffer.hpp"
#include "tessera/residency/residency_stats.hpp"
#include "tessera/store/store_catalog.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <map>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace tessera::actors {

using run_atom = caf::atom_constant<caf::atom("run")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using unload_atom = caf::atom_constant<caf::atom("unload")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using pressure_atom = caf::atom_constant<caf::atom("pressure")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using peer_atom = caf::atom_constant<caf::atom("peer")>;
using fuse_atom = caf::atom_constant<caf::atom("fuse")>;
using queue_atom = caf::atom_constant<caf::atom("queue")>;
using place_atom = caf::atom_constant<caf::atom("place")>;
using ensure_atom = caf::atom_constant<caf::atom("ensure")>;
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
using repair_atom = caf::atom_constant<caf::atom("repair")>;
using catalog_atom = caf::atom_constant<caf::atom("catalog")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using define_atom = caf::atom_constant<caf::atom("define")>;
using refresh_atom = caf::atom_constant<caf::atom("refresh")>;
/// A reply from a thread outside the actor system (the bridge's), handed
/// to the actor that asked.
using reply_atom = caf::atom_constant<caf::atom("reply")>;

/// A snapshot of what the node's store holds (the registry's; immutable).
using catalog_ptr = std::shared_ptr<const store::store_catalog>;

using steady_time = std::chrono::steady_clock::time_point;

/// One inference as it travels from the gateway through the scheduler to an
/// executor: inputs already validated and in manifest order.
struct infer_job {
  uint64_t ticket = 0;
  std::string model;
  uint32_t version = 0; ///< 0: the latest
  std::vector<std::string> input_names;
  std::vector<tensor_buffer> inputs;
  std::vector<std::string> outputs; ///< requested output names; all when empty
  int64_t priority = 0;
  steady_time arrival{};
  steady_time deadline = steady_time::max();
  /// The id that follows the request across nodes (the first client's id).
  std::string trace_id;
  /// Run even past the deadline (which then only orders the queue).
  bool best_effort = false;
  /// Executors that failed this job because they were unavailable.
  uint32_t attempts = 0;
  /// The job runs the fused group named `model` in one pass, for `members`
  /// ("name:version"; every member when empty); `inputs` are the group inputs
  /// and the outputs are named "member/output" (docs/fusion.md, "Serving").
  /// A job for a group name is recognised without it, as no model has that name.
  bool group = false;
  std::vector<std::string> members;
};

/// What an executor returns for a job.
struct infer_outcome {
  std::string model;
  uint32_t version = 0;
  std::vector<std::string> names;
  std::vector<tensor_buffer> tensors;
  std::string executor;
  /// Names of the models the executor holds after this job (empty: unknown).
  std::vector<std::string> held;
  double queue_ms = 0.0;
  double load_ms = 0.0;
  double run_ms = 0.0;
  /// Parameter bytes this job's load read from the store (not found
  /// resident), so that placement learns what loading costs per byte.
  uint64_t loaded_bytes = 0;
  /// The fused groups the executor holds after this job (empty: none or
  /// unknown), so the scheduler can send their members' requests one pass.
  std::vector<std::shared_ptr<const fused_plan>> groups;
  /// Free device memory of the executor's node after this job, for placement
  /// (the maximum: unknown).
  uint64_t free_bytes = std::numeric_limits<uint64_t>::max();
  /// The blobs resident on the executor's node, as a remote executor reports
  /// its peer's (decision 31); null when not reported. The same pointer while
  /// the list is unchanged.
  std::shared_ptr<const std::vector<content_id>> resident_blobs;
};

/// What loading a model did.
struct load_outcome {
  std::string model;
  uint32_t version = 0;
  uint64_t loaded_bytes = 0;
  uint64_t reused_bytes = 0;
};

/// What an executor's model loads did since it started, for /metrics.
struct load_totals {
  uint64_t held = 0;         ///< jobs and loads that found the model already loaded
  uint64_t loaded = 0;       ///< models loaded
  uint64_t shared_bytes = 0; ///< parameter bytes loads found resident or in flight
  uint64_t read_bytes = 0;   ///< parameter bytes loads read from the store
  latency_histogram duration;
};

/// What an executor's streamed runs did: models and fused groups too large to
/// hold resident, run block by block (docs/swapping.md, "Serving"), for
/// /metrics and status.
struct stream_totals {
  uint64_t runs = 0;           ///< streamed runs that answered with outputs
  uint64_t failed_runs = 0;    ///< streamed runs that answered with an error
  uint64_t blocks = 0;         ///< blocks run
  uint64_t blobs_read = 0;     ///< blobs read from the store for them
  uint64_t bytes_read = 0;
  uint64_t copies = 0;         ///< copies after the read (staging to device)
  uint64_t bytes_copied = 0;
  uint64_t forced_blocks = 0;  ///< blocks loaded alone under a budget below them
  uint64_t trimmed_blocks = 0; ///< prefetched blocks given back when the budget shrank
  uint64_t peak_held_bytes = 0; ///< the most one run held at once
  /// Blocks not loaded yet when their run reached them (every block, without
  /// prefetching); `wait_ms` is the time spent on them.
  uint64_t waited_blocks = 0;
  double wait_ms = 0.0;        ///< time runs waited for their blocks
  double compute_ms = 0.0;     ///< time the blocks computed
  /// The budget the node's streams share (decision 29), read when the state
  /// is asked for; 0 where the node cannot stream.
  uint64_t budget_bytes = 0;
  /// The last run's share of that budget when its last block started, and the
  /// most blocks it had loaded ahead of the running one (its window).
  uint64_t last_share_bytes = 0;
  uint32_t last_window_blocks = 0;
};

/// What an executor holds, for the scheduler's reuse-aware choices and status.
struct executor_state {
  std::string name;
  std::vector<std::string> loaded; ///< "name:version"
  uint64_t served = 0;
  uint64_t swaps_out = 0;
  uint64_t swaps_out_pressure = 0; ///< of swaps_out, those memory pressure forced
  bool remote = false;             ///< another node's executors (their loads count there)
  load_totals loads{};
  /// Fused groups it holds (their members are listed in `loaded` too).
  std::vector<std::string> groups;
  /// Passes that served requests for two or more members of a group at once.
  uint64_t fused_passes = 0;
  /// Models and groups prepared to stream ("name:version", "group:NAME"):
  /// too large to hold, they run block by block and hold nothing between runs.
  std::vector<std::string> streamed;
  stream_totals streams{};
};

/// Where the scheduler has placed units (models, fused groups) on its
/// executors, and how often placement changed (docs/scheduling.md, "Placement").
struct placement_status {
  std::map<std::string, std::vector<uint32_t>> units; ///< unit -> executor indices, primary first
  uint64_t placed = 0;  ///< first placements, and units placed again after their executors went down
  uint64_t added = 0;   ///< replicas added for hot units
  uint64_t moved = 0;   ///< units moved off busy executors
  uint64_t dropped = 0; ///< replicas dropped (executor down, or the load fell)
};

/// An executor: runs jobs on one device, loads and unloads models, and swaps
/// models out when memory pressure rises.
using executor_actor =
    caf::typed_actor<caf::replies_to<run_atom, infer_job>::with<infer_outcome>,
                     caf::replies_to<load_atom, std::string, uint32_t>::with<load_outcome>,
                     caf::replies_to<unload_atom, std::string, uint32_t>::with<bool>,
                     caf::replies_to<status_atom>::with<executor_state>,
                     caf::reacts_to<pressure_atom, pressure_level>,
                     /// The registry's newest catalogue: group definitions as they are now.
                     caf::reacts_to<catalog_atom, catalog_ptr>>;

/// The scheduler: queues jobs and places them on executors.
using scheduler_actor =
    caf::typed_actor<caf::replies_to<run_atom, infer_job>::with<infer_outcome>,
                     /// model_load: loads the unit on the executor placement chooses for it.
                     caf::replies_to<load_atom, std::string, uint32_t>::with<load_outcome>,
                     caf::replies_to<status_atom>::with<std::vector<executor_state>>,
                     /// Jobs waiting in the queue (not yet on an executor).
                     caf::replies_to<status_atom, queue_atom>::with<uint64_t>,
                     caf::replies_to<status_atom, place_atom>::with<placement_status>,
                     caf::reacts_to<peer_atom, uint32_t, bool>, caf::reacts_to<tick_atom>,
                     /// Hold-off number N of executor I is over (scheduler_options::hold_off).
                     caf::reacts_to<tick_atom, uint32_t, uint64_t>>;

/// The monitor: samples memory and tells executors about pressure.
using monitor_actor = caf::typed_actor<caf::reacts_to<tick_atom>,
                                       caf::reacts_to<pressure_atom, pressure_level>>;

} // namespace tessera::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::actors::infer_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::actors::infer_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::actors::load_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::actors::executor_state)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::actors::placement_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<tessera::actors::executor_state>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::pressure_level)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::actors::catalog_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::group_definition)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const tessera::co_request_counter>)
