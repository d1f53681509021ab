// An executor actor for one scheduler slot in a virtual-time cluster run. It
// answers the real executor interface, but a job's reply is held until the
// driver's virtual clock reaches the job's end (the driver sends tick), so
// several slots run side by side in virtual time. After its node fails it
// answers ec::unavailable, and the scheduler re-queues the job elsewhere.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/sim/cluster_world.hpp"

#include <caf/actor_system.hpp>

#include <memory>

namespace tessera::sim {

/// The executor interface plus tick: "deliver what is due (or failed) now".
using slot_executor_actor = actors::executor_actor::extend<caf::reacts_to<actors::tick_atom>>;

slot_executor_actor spawn_slot_executor(caf::actor_system& sys, std::shared_ptr<cluster_world> world, size_t slot);

} // namespace tessera::sim
