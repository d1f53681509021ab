// The dispatch loop that the online policies share (FIFO, EDF, the sharing-aware
// greedy): whenever the device is free, look at the requests that have arrived,
// drop those that can no longer finish in time, and let a rule pick the next one.
// The rule is the only thing that differs between those policies.
#pragma once

#include "tessera/core/schedule_model.hpp"

#include <functional>
#include <vector>

namespace tessera {

/// One request that could run next, with what running it now would cost.
struct dispatch_candidate {
  size_t request = 0;    ///< index into schedule_instance::requests
  double start_ms = 0.0; ///< now, or its arrival when it has not arrived
  double load_ms = 0.0;  ///< loading what its model lacks now
  double exec_ms = 0.0;  ///< executing its model
  double completion_ms = 0.0;
};

/// What a rule sees when it picks: the device's clock and residency, and the
/// candidates (arrived, and able to meet their deadlines unless `keep_late`).
struct dispatch_view {
  const schedule_instance* inst = nullptr;
  double now_ms = 0.0;
  const residency_state* residency = nullptr;
  const std::vector<dispatch_candidate>* candidates = nullptr;
  const std::vector<size_t>* pending = nullptr; ///< every request not run or dropped
};

/// Returns the position in `*view.candidates` of the request to run next.
using dispatch_rule = std::function<size_t(const dispatch_view& view)>;

struct dispatch_options {
  /// Run requests that can no longer meet their deadlines too (a classic FIFO);
  /// by default they are dropped as soon as that is certain.
  bool keep_late = false;
  /// Offer requests that have not arrived yet as candidates too, starting at
  /// their arrival: a rule may then leave the device idle for a request that
  /// reuses what is resident. FIFO and EDF never wait.
  bool wait_for_arrivals = false;
};

/// Runs the dispatch loop to the end of the queue and returns the simulated plan.
/// Dropping is safe: under every residency policy here, the time a request would
/// finish only grows while other requests run first (docs/scheduling.md).
schedule_plan dispatch(const schedule_instance& inst, const dispatch_rule& rule,
                       dispatch_options opts = {});

/// Where a dispatch loop stands: the clock, the residency, and the requests
/// neither run nor dropped yet.
struct dispatch_state {
  double now_ms = 0.0;
  residency_state residency;
  std::vector<size_t> pending; ///< indices into schedule_instance::requests
};

/// The state at the start of `inst`: every request pending.
dispatch_state initial_dispatch_state(const schedule_instance& inst);

/// Runs the loop from `state` to the end and returns the order it serves (not
/// simulated, so that look-ahead rules can call it cheaply).
std::vector<size_t> dispatch_from(const schedule_instance& inst, dispatch_state state,
                                  const dispatch_rule& rule, dispatch_options opts = {});

} // namespace tessera
