// An executor on another node, as the scheduler sees it: the same typed
// interface as a local executor, whose work travels through the bridge to the
// peer's gateway. Replies come back on the bridge thread and are handed to the
// actor as messages, so promises are only touched in the actor's own context.
#pragma once

#include "tessera/actors/bridge.hpp"
#include "tessera/actors/messages.hpp"

#include <caf/actor_system.hpp>

namespace tessera::actors {

/// `peer` indexes the bridge's peers; `net` must outlive the actor.
executor_actor spawn_remote_executor(caf::actor_system& sys, bridge* net, size_t peer,
                                     std::string name);

} // namespace tessera::actors
