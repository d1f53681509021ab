// Runs one scenario workload through the real scheduler actor and one slot
// executor per (node, executor) in deterministic virtual time, under CAF's test
// coordinator. Arrivals, job completions and node faults are events on one
// virtual clock; between events the coordinator runs every actor to quiescence.
#pragma once

#include "tessera/sim/cluster_world.hpp"
#include "tessera/sim/scenario.hpp"
#include "tessera/sim/workload.hpp"

#include <functional>

namespace tessera::sim {

/// The outcome of one policy at one load level.
struct cluster_run {
  std::string config; ///< the [[configs]] entry, or empty
  actors::queue_order policy = actors::queue_order::reuse_aware;
  double level = 1.0;
  cluster_world world;
  uint64_t events = 0; ///< arrivals, completions and faults processed
};

/// Called now and then with (requests answered, requests in all).
using progress_fn = std::function<void(size_t, size_t)>;

caf::expected<cluster_run> run_cluster(const scenario& s, const std::vector<schedule_model>& models,
                                       const std::vector<sim_request>& requests, actors::queue_order policy,
                                       double level, const progress_fn& progress = {});

} // namespace tessera::sim
