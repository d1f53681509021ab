// The monitor actor: one per device. The residency manager reports level
// changes as they happen; the monitor also samples usage on a timer, and tells
// every executor when pressure is high, so they swap models out until usage is
// below the low watermark.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/residency/residency_manager.hpp"

#include <caf/actor_system.hpp>

namespace tessera::actors {

monitor_actor spawn_monitor(caf::actor_system& sys, residency::residency_manager& residency,
                            std::vector<executor_actor> executors,
                            std::chrono::milliseconds period = std::chrono::milliseconds(100));

} // namespace tessera::actors
