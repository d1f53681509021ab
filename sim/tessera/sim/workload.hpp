// The requests a scenario sends: seeded arrivals (Poisson, bursty on/off,
// diurnal sinusoidal rate) over Zipf-popular models with deadlines of a few
// cold service times, or a trace replayed from CSV. Deterministic per seed.
#pragma once

#include "tessera/sim/scenario.hpp"

#include <string>
#include <vector>

namespace tessera::sim {

/// One request: times in virtual milliseconds from the start of the run.
struct sim_request {
  std::string model;
  double arrival_ms = 0.0;
  double deadline_ms = 0.0;
  /// When its input is on the node and the scheduler sees it: the arrival,
  /// or later when it first uploads over the uplink.
  double ready_ms = 0.0;
};

/// Indices of `requests` in the order they become ready (stable).
std::vector<size_t> ready_order(const std::vector<sim_request>& requests);

/// Sets each request's ready time from its upload over the shared uplink
/// (workload.uplink_mb_per_s, input_kb): shared equally by the uploads in
/// flight, or one at a time in deadline order (uplink = "edf"). Requests stay
/// in arrival order.
void apply_uplink(std::vector<sim_request>& requests, const workload_spec& w);

/// The workload at `level` times the scenario's rate, sorted by arrival.
caf::expected<std::vector<sim_request>> make_workload(const scenario& s, const std::vector<schedule_model>& models,
                                                      double level);

/// Reads a trace: lines of time_ms,model,deadline_ms (deadline relative to
/// the arrival); a first line that does not start with a digit is a header.
caf::expected<std::vector<sim_request>> read_trace(const std::string& path);

} // namespace tessera::sim
