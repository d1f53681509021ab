// The fidelity check (`tessera sim --validate`): the scenario's first policy
// and load level run once in virtual time on simulated devices and once for
// real (whole nodes over inproc://, LibTorch on the CPU, the zoo's models),
// with the same requests; mean latency and throughput are compared.
#pragma once

#include "tessera/sim/sim_report.hpp"

#include <map>
#include <string>

namespace tessera::sim {

struct validation {
  run_summary simulated;
  run_summary real;
  /// Each model's service time measured on the real nodes before the timed
  /// run; the simulated devices charge it (milliseconds).
  std::map<std::string, double> service_ms;
  double tolerance = 0.25; ///< the largest relative difference accepted
  double mean_latency_difference = 0.0;
  double throughput_difference = 0.0;

  bool within_tolerance() const {
    return mean_latency_difference <= tolerance && throughput_difference <= tolerance;
  }
};

/// Runs both; the scenario must take its models from the zoo (`store_path`).
caf::expected<validation> validate_against_real(const scenario& s, const std::vector<schedule_model>& models,
                                                const std::string& store_path);

/// The two side by side, with the relative differences and the verdict.
std::string validation_table(const validation& v);

} // namespace tessera::sim
