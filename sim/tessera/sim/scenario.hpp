// A simulator scenario as read from TOML: the cluster's nodes, the models, the
// workload, the policies to compare and the faults to inject. Parsing validates
// every field once, and each error names the field it is about.
#pragma once

#include "tessera/actors/scheduler.hpp"
#include "tessera/core/schedule_model.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tessera::sim {

/// The boxes of the simulated cluster; every node is alike.
struct node_spec {
  uint32_t count = 1;
  /// Executors per node; each is one scheduler slot with its own simulated
  /// device holding budget_mb / executors.
  uint32_t executors = 1;
  double budget_mb = 200.0;
  double load_mb_per_s = 1000.0;
  residency_policy residency = residency_policy::lru_blocks;
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
};

/// A node that fails (and stays down) at a virtual time.
struct fault_spec {
  uint32_t node = 0;
  double at_ms = 0.0;
};

struct scenario {
  std::string name;
  std::string description;
  uint64_t seed = 1;
  double bucket_ms = 1000.0; ///< width of the per-node time series buckets
  node_spec nodes;
  model_spec models;
  workload_spec workload;
  std::vector<actors::queue_order> policies{actors::queue_order::reuse_aware};
  std::vector<fault_spec> faults;
};

/// Parses and validates a scenario; relative trace paths are resolved against
/// `base_dir`. Errors are ec::bad_config and name the field.
caf::expected<scenario> parse_scenario_text(const std::string& text, const std::string& base_dir = ".");

/// Reads `path` and parses it (relative paths resolve against its folder).
caf::expected<scenario> load_scenario(const std::string& path);

const char* to_string(actors::queue_order order);

} // namespace tessera::sim
