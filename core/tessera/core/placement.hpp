// Where a unit (a model or a fused group) runs: a pure scoring of executors by
// the wait ahead, the bytes a load must read (resident shared blobs are free)
// and the bytes it must evict, plus the review that re-places a unit when load
// shifts and replicates a hot one. The scheduler actor and the simulator use it;
// docs/scheduling.md ("Placement") gives the argument for the score.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/core/manifest.hpp"
#include "tessera/core/schedule_model.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace tessera {

/// What is placed: a model or a fused group, by its distinct blobs.
struct placement_unit {
  std::string name;
  std::vector<std::pair<content_id, uint64_t>> blobs; ///< distinct, with bytes

  uint64_t bytes() const;

  /// Bytes of its blobs that are in `resident`.
  uint64_t resident_bytes(const std::unordered_set<content_id>& resident) const;
};

/// A model's unit: its distinct blobs.
placement_unit placement_unit_of(const model_manifest& m);

/// A cost-model model's unit: its distinct blocks (the simulator's blobs).
placement_unit placement_unit_of(const schedule_model& m);

/// One executor as placement sees it, for one unit.
struct executor_view {
  bool up = true;
  uint32_t node = 0; ///< executors of one node share its device memory
  /// Free device memory of its node; the maximum means unknown (assumed to fit).
  uint64_t free_bytes = std::numeric_limits<uint64_t>::max();
  uint64_t resident_bytes = 0; ///< of the unit's bytes, resident on its node
  bool holds = false;          ///< it has the unit loaded (nothing to read)
  uint32_t queued = 0;         ///< jobs routed to it and not done, the running one included
  double queued_ms = 0.0;      ///< estimated work of those jobs
};

struct placement_options {
  /// Bandwidth at which missing bytes load (store or host to device).
  double load_bytes_per_ms = 1.0e6;
  /// Weight of the bytes a load must evict, per byte of loading: evicted blobs
  /// are likely read again later, so a full node costs as if it read them again.
  double evict_weight = 1.0;
  /// A unit is hot when this many of its jobs wait per executor it is on...
  uint32_t replicate_queued_jobs = 2;
  /// ...or when its oldest job has waited this long.
  double replicate_wait_ms = 50.0;
  /// Executors with at most this many jobs are lightly loaded: they may take
  /// a replica of a hot unit, or a unit moved off a busy executor.
  uint32_t light_queued_jobs = 1;
  /// The most executors one unit is placed on; 0: no limit but the executors
  /// up. A limit starves a unit hotter than that many executors can serve
  /// (one Zipf model takes a quarter of a cluster's requests).
  uint32_t max_replicas = 0;
  /// A replica that ran none of the unit's jobs for this long, while the unit
  /// is not hot, is dropped (the primary stays).
  double replica_idle_ms = 1000.0;
  /// How often every placed unit is reviewed (re-placed, replicated, dropped).
  /// A review scores every executor for every busy unit, so it runs on this
  /// cadence rather than on every event; a unit with jobs and no executor up
  /// is placed at once. 0 reviews on every event.
  double review_interval_ms = 2.0;
};

/// An executor's estimated cost for one job of the unit, in milliseconds:
/// the wait ahead, the load of the bytes not resident, and the eviction the
/// load forces on a node without room for them.
struct placement_score {
  double wait_ms = 0.0;
  double load_ms = 0.0;
  double evict_ms = 0.0;

  double total_ms() const {
    return wait_ms + load_ms + evict_ms;
  }
};

placement_score score_executor(const placement_unit& unit, const executor_view& e,
                               const placement_options& opts);

/// Whether `a` is a better place than `b` for the unit: the lower total cost;
/// on a tie (within a microsecond) fewer queued jobs, then holding the unit,
/// then more resident bytes. Equal views compare false both ways.
bool better_place(const placement_unit& unit, const executor_view& a, const executor_view& b,
                  const placement_options& opts);

/// The best executor for the unit among those up (and not in `exclude`), the
/// lower index on a full tie; none when no executor qualifies.
std::optional<size_t> place_unit(const placement_unit& unit,
                                 const std::vector<executor_view>& views,
                                 const placement_options& opts,
                                 const std::vector<size_t>& exclude = {});

/// One executor a unit is placed on, and when it last ran one of its jobs.
struct placed_replica {
  size_t executor = 0;
  double last_run_ms = 0.0;
};

/// How busy a unit is.
struct unit_load {
  uint32_t queued = 0;         ///< its jobs waiting (not yet on an executor)
  double oldest_wait_ms = 0.0; ///< how long the oldest of them has waited
};

enum class placement_action : uint8_t {
  keep,  ///< nothing changes
  place, ///< the unit had no executor up: place it on `executor`
  add,   ///< hot: add a replica on `executor`
  move,  ///< its executors are busy with other work: move it to `executor`
  drop,  ///< drop the replica on `executor` (down, or idle while the load fell)
};

const char* to_string(placement_action a);

struct placement_change {
  placement_action action = placement_action::keep;
  size_t executor = 0;
  std::string reason; ///< for logs and tests
};

/// Reviews one unit's placement (`placed`, primary first; `views` for this
/// unit, one per executor) at `now_ms`. At most one change, in this order:
/// a replica on a down executor is dropped; a unit with no executor up is
/// placed again; a unit whose best executor's cost exceeds an idle or lightly
/// loaded executor's (its load included) gets a replica there when it is hot,
/// or moves there when it is not; a replica idle for `replica_idle_ms` while
/// the unit is not hot is dropped.
placement_change review_placement(const placement_unit& unit,
                                  const std::vector<placed_replica>& placed,
                                  const std::vector<executor_view>& views, const unit_load& load,
                                  double now_ms, const placement_options& opts);

} // namespace tessera
