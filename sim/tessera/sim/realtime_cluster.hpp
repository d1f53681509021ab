// Runs one scenario workload in real time on whole in-process nodes: each node
// is a real Tessera node (gateway, scheduler, executors, bridge) whose
// executors run on simulated devices (backends/sim), all on one ZeroMQ context
// over inproc:// sockets. Node 0 faces the client and schedules onto the
// others as peers, as a coordinator does in a real cluster. The outcome has the
// shape of a virtual-time run, so the same reports and checks apply.
#pragma once

#include "tessera/sim/virtual_cluster.hpp"

#include <map>
#include <string>

namespace tessera::sim {

/// Writes the manifests of synthetic models into a store at `root` (created).
caf::error write_synthetic_store(const std::vector<schedule_model>& models, const std::string& root);

/// What executes on the real nodes: simulated devices (sleeping for the cost
/// model's time), or LibTorch on the CPU (the store's real models, at speed 1).
enum class realtime_backend : uint8_t { simulated, torch };

/// Each model's service time on the real nodes, in milliseconds: the median
/// latency of requests sent one at a time to the idle cluster, after warm-up
/// requests have loaded the model on every executor (see docs/simulator.md,
/// "Fidelity check"). It is what the simulated device should charge per run.
using service_times = std::map<std::string, double>;

/// Runs `requests` at `speedup` times real speed; `store_root` holds the
/// models' manifests (synthetic ones from write_synthetic_store, or the zoo's).
/// With `calibrate`, the models' service times are measured first, before the
/// timed run, and written there.
caf::expected<cluster_run>
run_cluster_realtime(const scenario& s, const std::vector<schedule_model>& models,
                     const std::vector<sim_request>& requests, actors::queue_order policy,
                     double level, const std::string& store_root, const progress_fn& progress = {},
                     realtime_backend backend = realtime_backend::simulated,
                     service_times* calibrate = nullptr);

} // namespace tessera::sim
