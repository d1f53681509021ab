// The scheduler actor: queues jobs and places each on an idle executor. The
// policy here is reuse-aware EDF: among the most urgent priority class, a job
// whose model the idle executor already holds goes first (no load), otherwise
// the earliest deadline. Jobs that can no longer meet their deadline are
// answered at once with deadline_exceeded. The scheduling issue brings the
// dynamic program, placement and batching.
#pragma once

#include "tessera/actors/messages.hpp"

#include <caf/actor_system.hpp>

namespace tessera::actors {

/// `up[i]` says whether executor i starts available (remote ones start down
/// until their first heartbeat); all are up when `up` is empty.
scheduler_actor spawn_scheduler(caf::actor_system& sys, std::vector<executor_actor> executors,
                                std::vector<bool> up = {});

} // namespace tessera::actors
