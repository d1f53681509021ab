// The shared state of one virtual-time cluster run: the virtual clock, one
// simulated device per scheduler slot (executor), and one record per request.
// The driver and the slot executors share it; the test coordinator runs them
// all on one thread, so no locks are needed.
#pragma once

#include "tessera/sim/sim_device.hpp"

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tessera::sim {

enum class request_status : uint8_t { pending, met, missed, failed };

const char* to_string(request_status s);

/// One request's fate. start/end/node/load describe its last run (a job whose
/// node failed under it runs again elsewhere).
struct request_record {
  uint64_t id = 0;
  std::string model;
  double arrival_ms = 0.0;
  double deadline_ms = 0.0;
  double start_ms = -1.0;
  double end_ms = -1.0;
  double load_ms = 0.0;
  int32_t node = -1;
  request_status status = request_status::pending;
  uint32_t answers = 0; ///< how often the client was answered (exactly 1 when sound)
  uint32_t runs = 0;    ///< how often an executor started it
};

/// A stretch of time a slot's device was busy, and what it held at its end.
struct busy_span {
  double start_ms = 0.0;
  double end_ms = 0.0;
  uint64_t resident_bytes = 0;
};

/// One executor: its device, whether its node has failed, and when its
/// current job is due to finish (infinity when idle).
struct slot_state {
  slot_state(uint32_t node_index, sim_device dev) : node(node_index), device(std::move(dev)) {
    // nop
  }

  uint32_t node = 0;
  sim_device device;
  bool failed = false;
  /// Real-time mode: when its node had stopped (scenario ms); a run that
  /// began while the node was shutting down ends before this.
  double stopped_ms = std::numeric_limits<double>::infinity();
  double due_ms = std::numeric_limits<double>::infinity();
  std::vector<busy_span> spans;
  uint64_t loaded_bytes = 0;
  uint64_t switches = 0; ///< runs that had to load blocks
  uint64_t evictions = 0; ///< blocks dropped from residency
};

struct cluster_world {
  double now_ms = 0.0;
  std::vector<slot_state> slots;
  std::vector<request_record> records; ///< record i has ticket i + 1
  /// (due_ms, slot) of the busy slots, so the next completion is found
  /// without scanning every slot (1,000-node runs).
  std::set<std::pair<double, size_t>> due;

  /// Sets slot `i`'s completion time (infinity: idle).
  void set_due(size_t i, double due_ms) {
    auto& s = slots[i];
    due.erase({s.due_ms, i});
    s.due_ms = due_ms;
    if (due_ms != std::numeric_limits<double>::infinity())
      due.insert({due_ms, i});
  }
};

struct scenario;
struct sim_request;

/// The device of each executor of the scenario's nodes: the node's budget split
/// among its executors, its bandwidth and residency policy.
schedule_device slot_device(const scenario& s);

/// What each executor's simulated device does beyond the cost model: swap,
/// the executors' shared compute, fused families as units.
sim_device_options slot_device_options(const scenario& s, const std::vector<schedule_model>& models);

/// A world with one slot per (node, executor), each with a device over
/// `models`, and one pending record per request.
cluster_world make_world(const scenario& s, const std::vector<schedule_model>& models,
                         const std::vector<sim_request>& requests);

} // namespace tessera::sim
