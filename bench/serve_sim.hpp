// `tessera bench serve`'s simulated twin: the same probes (the same planned
// arrivals, models, budget and workers) run through `tessera sim`'s virtual
// cluster, the real scheduler actor over simulated devices, calibrated from
// the real cluster as `tessera sim --validate` is: each model's service time
// as measured on the real nodes, and the load bandwidth the real workers
// showed. Its capacity, against the real one, is `sim_capacity_error`.
#pragma once

#include "serve_load.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::bench {

/// What the simulated cluster is calibrated with.
struct sim_calibration {
  std::vector<double> service_ms; ///< per model of the workload, measured (resident, alone)
  /// The fused group's pass for a frame item, measured; 0: no group, and a
  /// frame runs as its members' requests one by one.
  double frame_pass_ms = 0.0;
  double load_mb_per_s = 1000.0; ///< measured on the real workers' loads
  uint64_t budget_bytes = 0;     ///< each worker's
  uint32_t workers = 2;
};

/// The met fraction of the simulated cluster on the arrivals `plan`.
/// A frame item (more than one member) is one job of a unit holding its
/// members' blobs, taking `frame_pass_ms`, as the fused group serves it; each
/// member's request is met when the pass ends by its own deadline.
caf::expected<double> simulated_met_fraction(const serve_workload& w, const sim_calibration& cal,
                                             const std::vector<planned_arrival>& plan);

/// The simulated sweep: the real sweep's probes (rates from `first_rate`
/// up by `step`, probe `level` seeded 100 + level and `span_s(rate)` long)
/// until a probe meets fewer than 80% or `levels` have run.
caf::expected<rate_sweep> simulated_sweep(const serve_workload& w, const sim_calibration& cal,
                                          double first_rate, double step, int levels,
                                          double (*span_s)(double rate, bool quick), bool quick);

} // namespace tessera::bench
