// A whole simulator run: every policy at every load level of a scenario, each
// writing its per-request and per-node CSVs under an output folder, then a
// summary CSV and, when gnuplot is installed, PNG plots.
#pragma once

#include "tessera/sim/sim_report.hpp"

#include <string>
#include <vector>

namespace tessera::sim {

struct simulation_options {
  std::string out_dir = "sim-out";
  bool progress = true; ///< progress lines on stderr
  bool plots = true;    ///< PNGs when gnuplot is found
  /// Real-time mode with zoo models: the store that holds their manifests.
  /// Synthetic models get a store of their own under out_dir.
  std::string store_path;
};

/// Runs the scenario; returns one summary per (level, policy), level-major.
caf::expected<std::vector<run_summary>> run_simulation(const scenario& s, const std::vector<schedule_model>& models,
                                                       const simulation_options& opts);

/// Writes plot scripts and runs gnuplot on them; false (with a note on stderr)
/// when gnuplot is not installed.
bool draw_plots(const scenario& s, const std::vector<run_summary>& rows, const std::string& out_dir);

} // namespace tessera::sim
