// An executor actor backed by a simulated device, for virtual-time runs of the
// real scheduler: each job advances the device's virtual clock by its load and
// compute, and its outcome (met or missed) is judged against its virtual
// deadline. Jobs are identified by ticket in a table the driver fills.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/sim/sim_device.hpp"

#include <caf/actor_system.hpp>

#include <map>
#include <memory>

namespace tessera::sim {

struct virtual_job {
  double arrival_ms = 0.0;
  double deadline_ms = 0.0;
};

/// What the driver and the executors share (one thread runs them all under
/// the test coordinator, so no locks are needed).
struct virtual_world {
  std::map<uint64_t, virtual_job> jobs;
  std::vector<sim_device> devices;
  uint64_t met = 0;
  uint64_t missed = 0;
  uint64_t load_switches = 0;

  /// The latest clock over all devices.
  double now_ms() const;
};

actors::executor_actor spawn_sim_executor(caf::actor_system& sys, std::shared_ptr<virtual_world> world,
                                          size_t device);

} // namespace tessera::sim
