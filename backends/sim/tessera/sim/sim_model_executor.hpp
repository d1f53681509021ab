// A model_executor (backends/api) backed by a simulated device, for running the
// real executor, scheduler and gateway actors in real time without LibTorch:
// a run sleeps for the device model's load and compute time (divided by a
// speed-up), and answers zero tensors of the manifest's output types.
#pragma once

#include "tessera/backend/model_executor.hpp"
#include "tessera/sim/sim_device.hpp"

#include <functional>

namespace tessera::sim {

/// One run as the device saw it, in the scenario's milliseconds.
struct sim_run_note {
  sim_run run;
  uint64_t resident_bytes = 0;
};

struct sim_backend_options {
  /// Real time runs this many times faster than the scenario's time.
  double speedup = 1.0;
  /// Bytes the models held at once may take; a load beyond it fails with
  /// out_of_memory, so the executor swaps its least recently used model out.
  uint64_t budget_bytes = 0;
  /// Swap, compute scale and units of the simulated device.
  sim_device_options device;
  /// Told of every run, on the executor's thread (may be empty).
  std::function<void(const sim_run_note&)> on_run;
};

/// `models` are the schedule models of the manifests the executor will load
/// (by name); the device's residency and costs are those of the virtual mode.
std::unique_ptr<backend::model_executor> make_sim_model_executor(std::vector<schedule_model> models,
                                                                 schedule_device device,
                                                                 sim_backend_options opts);

} // namespace tessera::sim
