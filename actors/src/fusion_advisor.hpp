// The fusion advisor: turns the scheduler's co-request statistics into fused
// group definitions. It reads the store's latest manifests, asks core's
// grouping policy (core/fusion_policy.hpp) for groups, and defines each one
// whose models are in no defined group yet and whose name is free. Detached,
// since it reads and writes the store; the scheduler spawns it linked.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <string>
#include <vector>

namespace tessera::actors {

/// What one run of the policy did.
struct fusion_advice {
  /// Groups defined by this run, "name: a:1 b:1".
  std::vector<std::string> defined;
  /// Proposals left out, with why ("group-x: resnet18:1 is in group cams").
  std::vector<std::string> skipped;
};

/// Runs the policy once over `counts` and defines what it proposes (pure but
/// for the store it reads and writes; the advisor actor calls it).
fusion_advice advise_fusion(const store::block_store& store, const co_request_counter& counts,
                            const grouping_options& opts);

/// The advisor actor: on (fuse_atom, shared_ptr<const co_request_counter>) it
/// runs advise_fusion() and logs what it defined.
caf::actor spawn_fusion_advisor(caf::actor_system& sys, const store::block_store& store,
                                grouping_options opts);

} // namespace tessera::actors
