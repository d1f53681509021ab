// The state of one executor actor: the units it holds and how it runs jobs on
// them. Models and fused groups are held resident, each with its own lease,
// and swapped out least recently used first; a unit that can never be held is
// streamed block by block instead (streamed_units). executor_units.cpp holds
// and swaps units, executor_runs.cpp runs jobs, executor.cpp is the actor.
#pragma once

#include "streamed_units.hpp"
#include "tessera/actors/executor.hpp"
#include "tessera/backend/fused_group.hpp"
#include "tessera/core/error.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tessera::actors {

/// Output names and tensors of one job, in the order they are answered.
using named_outputs = std::pair<std::vector<std::string>, std::vector<tensor_buffer>>;

/// Runs chosen outputs (indices) of a DAG on its inputs: a held unit, or a
/// streamed one.
using dag_runner = std::function<caf::expected<std::vector<tensor_buffer>>(
    const std::vector<tensor_buffer>& inputs, const std::vector<uint32_t>& wanted)>;

struct executor_units {
  struct held {
    std::shared_ptr<backend::loaded_model> model;
    uint64_t last_used = 0;
  };

  /// A fused group: loaded, run and swapped out as one unit (docs/fusion.md).
  struct held_group {
    std::shared_ptr<backend::loaded_group> group;
    std::shared_ptr<const fused_plan> plan;
    uint64_t last_used = 0;
  };

  std::shared_ptr<executor_deps> deps;
  std::map<std::string, held> loaded;         ///< by "name:version"
  std::map<std::string, held_group> groups;   ///< by group name
  catalog_ptr catalog;                        ///< the registry's, as last sent
  std::unique_ptr<streamed_units> streams;    ///< units too large to hold
  uint64_t tick = 0;
  uint64_t served = 0;
  uint64_t swaps_out = 0;
  uint64_t swaps_out_pressure = 0;
  uint64_t fused_passes = 0;
  load_totals loads;

  /// The actor's name (CAF reads it from the state type).
  static inline const char* name = "executor";

  static std::string key(const model_manifest& m) {
    return m.name + ":" + std::to_string(m.version);
  }

  /// Whether `ref` ("name:version") names model `name` at `version` (any when 0).
  static bool is_ref_of(const std::string& ref, const std::string& name, uint32_t version) {
    auto at = ref.rfind(':');
    return ref.substr(0, at) == name &&
           (version == 0 || ref.substr(at + 1) == std::to_string(version));
  }

  /// A streamed group's key among the streamed units.
  static std::string group_key(const std::string& name) {
    return "group:" + name;
  }

  /// The residency manager's device budget: a unit above it is never held.
  uint64_t device_budget() const {
    return deps->residency->options().device_budget_bytes;
  }

  /// Refuses at once a unit that can never be held resident, rather than
  /// swapping every other unit out first; the caller streams it instead.
  caf::error check_holdable(const std::string& what, uint64_t bytes) const;

  /// Runs a unit that is not held block by block, through the node's stream.
  /// When a block finds no room beside this executor's resident units, one of
  /// them is swapped out and the run starts again.
  caf::expected<std::vector<tensor_buffer>> run_streamed(const std::string& unit_key,
                                                         const model_manifest& dag,
                                                         const std::vector<tensor_buffer>& inputs,
                                                         const std::vector<uint32_t>& wanted);

  /// run_streamed as a dag_runner (`dag` must outlive it).
  dag_runner streamed_runner(const std::string& unit_key, const model_manifest& dag);

  /// True when an error means "does not fit" and this node can stream instead.
  bool stream_instead(const caf::error& err) const {
    return streams->available() && code_of(err) == ec::out_of_memory;
  }

  /// Unloads the least recently used unit, a model or a whole group; false
  /// when none is loaded. Blobs another unit holds stay resident (each unit
  /// holds its own residency lease).
  bool swap_out_one();

  /// Takes the registry's newest catalogue, and unloads held groups whose
  /// definition went or changed (work brings the new one in).
  void sync_groups(catalog_ptr next);

  /// A model's manifest from the catalogue; from the store when the
  /// catalogue lacks it (stored since, its news on the way).
  caf::expected<model_manifest> manifest(const std::string& name, uint32_t version) const;

  /// The group definition named `name`, or null (none when groups are off).
  const group_definition* defined_group(const std::string& name) const;

  /// The plan of a defined group, as the catalogue holds it.
  caf::expected<std::shared_ptr<const fused_plan>> plan_of(const group_definition& def) const;

  /// Counts a load in `loads` (and in `out` when given).
  void count_load(const backend::load_report& report, load_outcome* out);

  /// The held group that has `ref` ("name:version") as a member, or null.
  held_group* group_holding(const std::string& ref);

  /// Brings a defined group in as one unit (one lease over the union of its
  /// members' blobs), swapping out this executor's least recently used units
  /// while memory is full.
  caf::expected<held_group*> ensure_group(const group_definition& def, load_outcome* out);

  /// A model held, or loaded now, swapping out this executor's least recently
  /// used units while memory is full; out_of_memory at once for a model above
  /// the device budget (check_holdable).
  caf::expected<std::shared_ptr<backend::loaded_model>>
  ensure_loaded(const std::string& name, uint32_t version, load_outcome* out);

  /// The group that serves `ref`: one held, else the first defined group that
  /// lists it, loaded as a unit. Null when no group lists it, or when its
  /// group cannot fit even with everything else swapped out (the model then
  /// runs on its own).
  caf::expected<held_group*> group_for(const std::string& ref, load_outcome* out);

  /// The group named by a job: `job.group`, or a name that is a defined group
  /// and no model (as the gateway sends requests addressed to a group).
  const group_definition* group_named(const infer_job& job);

  /// Fills in what the executor holds after a job, for the scheduler.
  void describe_holdings(infer_outcome& r) const;

  /// Runs a held group's DAG.
  dag_runner resident_runner(const held_group& g);

  /// One member's request from its group: only that member's sub-DAG runs.
  caf::expected<named_outputs> run_member(const fused_plan& plan, const dag_runner& run_dag,
                                          const fusion_member& member, const infer_job& job);

  /// A pass of a group for some members (all when none are named): outputs are
  /// named as the fused DAG names them, "member/output".
  caf::expected<named_outputs> run_pass(const fused_plan& plan, const dag_runner& run_dag,
                                        const infer_job& job);

  /// A job addressed to a group: one pass of the held group, or, when the group
  /// cannot be held, of its DAG streamed block by block.
  /// `loaded_at` is set once the unit is ready to run (a streamed unit loads
  /// as it runs).
  caf::expected<named_outputs> run_group_job(const group_definition& def, const infer_job& job,
                                             infer_outcome& r, steady_time& loaded_at);

  /// A job for one model: held, or streamed when it cannot be held.
  caf::expected<named_outputs> run_model_job(const infer_job& job, load_outcome& lo,
                                             steady_time& loaded_at);

  /// Runs one job: a group by its name, a member from its group, or a model.
  caf::result<infer_outcome> run(const infer_job& job);

  /// A load asked by name: a group by its name; a member of a defined group
  /// brings its group in (the unit), unless the group cannot fit. A unit that
  /// can never be held is prepared to stream instead (it reads nothing:
  /// loaded_bytes 0), so that its first request does not compile it.
  caf::expected<load_outcome> load(const std::string& name, uint32_t version);

  /// Unloads a group by its name, or a model together with the held groups
  /// that have it as a member (so it is no longer ready anywhere here).
  bool unload(const std::string& name, uint32_t version);

  /// Holdings and counters, for the scheduler, status and /metrics.
  executor_state state() const;

  /// Publishes that this executor starts loading or unloading `ref`.
  void mark(const std::string& ref, model_state s) const;

  /// Publishes why loading `ref` failed; running out of memory is no
  /// failure of the unit (it is streamed, or waits for room).
  void mark_failed(const std::string& ref, const caf::error& err) const;

  /// Publishes what this executor holds now, ready, and its state (after
  /// every message).
  void publish() const;

  /// At high pressure or above: drops cached blobs, then swaps units out
  /// until the device (streams' bytes left out) is below the low watermark.
  void relieve(pressure_level level);
};

} // namespace tessera::actors
