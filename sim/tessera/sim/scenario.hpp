// A simulator scenario as read from TOML: the cluster's nodes, the models, the
// workload, the policies to compare and the faults to inject. Parsing validates
// every field once, and each error names the field it is about.
#pragma once

#include "tessera/core/placement.hpp"

#include "tessera/actors/scheduler.hpp"
#include "tessera/core/schedule_model.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tessera::sim {

/// Where a request may run: on any executor of any node, placed by the one
/// scheduler (dynamic), or only on its model's home node (model index modulo
/// node count), each node with a scheduler of its own (static).
enum class placement_kind : uint8_t { dynamic, fixed };

/// The boxes of the simulated cluster; every node is alike.
struct node_spec {
  uint32_t count = 1;
  /// Executors per node; each is one scheduler slot with its own simulated
  /// device holding budget_mb / executors.
  uint32_t executors = 1;
  double budget_mb = 200.0;
  double load_mb_per_s = 1000.0;
  residency_policy residency = residency_policy::lru_blocks;
  placement_kind placement = placement_kind::dynamic;
  /// Compute speed of each executor when a node has several, relative to one
  /// executor alone (they share the device); 1 means no slowdown.
  double executor_speed = 1.0;
  /// Run models larger than an executor's budget block by block (SwapNet).
  bool swap = false;
  /// The placement review's cadence and replica limit (placement_options).
  double review_interval_ms = placement_options{}.review_interval_ms;
  uint32_t max_replicas = placement_options{}.max_replicas;
};

/// Where the models come from.
enum class model_source : uint8_t { synthetic, zoo };

/// Synthetic families: each family has `variants` models that share a trunk
/// of `trunk_mb` (bottom layers) and differ in a head of `head_mb`. With
/// sharing "none" each variant has a trunk of its own (same sizes).
struct synthetic_spec {
  uint32_t families = 3;
  uint32_t variants = 3;
  uint32_t trunk_blocks = 4;
  double trunk_mb = 40.0;
  double head_mb = 4.0;
  bool shared_trunk = true;
  /// unit = "group": each family is a fused group, loaded, kept and evicted as
  /// one unit (its trunk once, all its heads); "model": each model alone.
  bool fused = false;
};

struct model_spec {
  model_source source = model_source::synthetic;
  synthetic_spec synthetic;
  /// Zoo model names; empty means all models in the store.
  std::vector<std::string> zoo_names;
  /// Compute time per decimal MB of parameters (a CPU's, see docs/simulator.md).
  double exec_ms_per_mb = 1.25;
  /// Measured compute times that override the per-MB estimate.
  std::map<std::string, double> exec_ms;
};

enum class arrival_kind : uint8_t { poisson, bursty, diurnal, trace };

struct workload_spec {
  arrival_kind kind = arrival_kind::poisson;
  double rate_per_s = 10.0; ///< mean rate (poisson, diurnal); rate while on (bursty)
  double on_ms = 1000.0;    ///< bursty
  double off_ms = 1000.0;   ///< bursty
  double period_ms = 60000.0; ///< diurnal
  double amplitude = 0.8;     ///< diurnal, in [0, 1)
  std::string trace_path;     ///< trace: CSV of time_ms,model,deadline_ms
  /// Multipliers of the rate; every policy runs at every level.
  std::vector<double> load_levels{1.0};
  uint64_t requests = 1000;  ///< stop after this many requests ...
  double duration_ms = 0.0;  ///< ... or at this time (0: no limit)
  double zipf = 1.0;         ///< popularity skew over the models
  /// Deadline = arrival + slack x the model's cold service time (full load
  /// plus compute); slack is drawn uniformly from [slack_min, slack_max].
  double slack_min = 3.0;
  double slack_max = 8.0;
  /// Each request first uploads its input over the node's shared uplink
  /// (PartialLoading's setting); 0 turns uploads off. The deadline counts
  /// from the request's creation, so upload time is part of its latency.
  double uplink_mb_per_s = 0.0;
  double input_kb = 0.0;
  /// How the uplink is shared by the uploads in flight: "equal" (each gets an
  /// equal share) or "edf" (one at a time, earliest deadline first).
  bool uplink_edf = false;
};

/// A node that fails (and stays down) at a virtual time.
struct fault_spec {
  uint32_t node = 0;
  double at_ms = 0.0;
};

/// How a scenario runs: in deterministic virtual time (the real scheduler with
/// slot executors under CAF's test coordinator), or in real time with whole
/// nodes (gateway, scheduler, executors on simulated devices) on inproc://.
enum class run_mode : uint8_t { virtual_time, real_time };

/// One configuration to compare: the scenario's nodes, models and policies
/// with a few fields overridden ([[configs]]).
struct config_spec {
  std::string name;
  node_spec nodes;
  model_spec models;
  std::vector<actors::queue_order> policies;
  bool uplink_edf = false;
};

struct scenario {
  std::string name;
  run_mode mode = run_mode::virtual_time;
  /// Real-time mode: wall-clock time runs this many times faster than the
  /// scenario's (a 10 s scenario takes 1 s at 10).
  double speedup = 10.0;
  std::string description;
  uint64_t seed = 1;
  double bucket_ms = 1000.0; ///< width of the per-node time series buckets
  node_spec nodes;
  model_spec models;
  workload_spec workload;
  std::vector<actors::queue_order> policies{actors::queue_order::reuse_aware};
  std::vector<fault_spec> faults;
  /// Configurations to compare; none means the scenario as it is.
  std::vector<config_spec> configs;
};

/// The scenario as configuration `c` changes it.
scenario with_config(const scenario& s, const config_spec& c);

/// Parses and validates a scenario; relative trace paths are resolved against
/// `base_dir`. Errors are ec::bad_config and name the field.
caf::expected<scenario> parse_scenario_text(const std::string& text, const std::string& base_dir = ".");

/// Reads `path` and parses it (relative paths resolve against its folder).
caf::expected<scenario> load_scenario(const std::string& path);

const char* to_string(actors::queue_order order);

} // namespace tessera::sim
