// A simulated device for the simulator and scheduling benchmarks: a virtual
// clock, a load bandwidth, per-block compute times and block residency under a
// byte budget, using the cost model of core/schedule_model.hpp. Running a model
// advances the clock by the load of its missing blocks plus its compute.
#pragma once

#include "tessera/core/manifest.hpp"
#include "tessera/core/schedule_model.hpp"

#include <map>
#include <string>
#include <vector>

namespace tessera::sim {

struct sim_run {
  double start_ms = 0.0;
  double load_ms = 0.0;
  double end_ms = 0.0;
  uint64_t loaded_bytes = 0; ///< bytes brought in for this run
  uint64_t evicted_blocks = 0; ///< blocks that left residency because of it
};

/// What a simulated device does beyond the cost model of core/schedule_model.
struct sim_device_options {
  /// Run a model larger than the budget block by block (SwapNet): blocks load
  /// in order while earlier ones compute, and the bottom blocks that fit stay
  /// resident for the next run. Without it such a model fails (out_of_memory).
  bool swap = false;
  /// Compute times are multiplied by this (executors sharing one device run
  /// slower than one alone).
  double compute_scale = 1.0;
  /// Units loaded, kept and evicted as one (fused groups): each is a model
  /// whose blocks are the union of its members'. `unit_of` maps a member's
  /// name to its unit's name; a member computes only its own blocks.
  std::vector<schedule_model> units;
  std::map<std::string, std::string> unit_of;
};

class sim_device {
public:
  sim_device(std::vector<schedule_model> models, schedule_device device, sim_device_options opts = {});

  /// Runs model `name` for a job that arrived at `arrival_ms` (virtual): it
  /// starts when both it has arrived and the device is free.
  caf::expected<sim_run> run(const std::string& name, double arrival_ms);

  double clock_ms() const {
    return clock_ms_;
  }

  /// The models and then the units it knows.
  const std::vector<schedule_model>& models() const {
    return inst_.models;
  }

  /// Bytes of the blocks resident now (shared blocks count once).
  uint64_t resident_bytes() const;

private:
  /// A swapped run of `unit` for member `model`, starting at `start_ms`.
  sim_run run_streamed(size_t model, size_t unit, double start_ms);

  schedule_instance inst_;
  sim_device_options opts_;
  std::map<size_t, size_t> unit_index_; ///< member model -> its unit
  residency_state state_;
  std::map<std::string, size_t> index_;
  std::map<content_id, uint64_t> block_bytes_;
  double clock_ms_ = 0.0;
};

/// A schedule model of a manifest: one block per node, with the bytes of the
/// node's parameters and a share of `model_exec_ms` proportional to them.
schedule_model schedule_model_of(const model_manifest& m, double model_exec_ms);

} // namespace tessera::sim
