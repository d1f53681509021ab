// The executor actor: one per device slot, detached because LibTorch calls and
// blob reads block. It keeps the models it has loaded, runs jobs, loads on
// demand (swapping out its least recently used models when memory is full) and
// swaps models out under memory pressure until usage is below the low watermark.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/backend/model_executor.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/actor_system.hpp>

#include <memory>

namespace tessera::actors {

/// What an executor needs; the node owns the store and the residency manager,
/// which outlive every actor.
struct executor_deps {
  std::string name;
  std::unique_ptr<backend::model_executor> exec;
  residency::residency_manager* residency = nullptr;
  const store::block_store* store = nullptr;
};

executor_actor spawn_executor(caf::actor_system& sys, std::shared_ptr<executor_deps> deps);

} // namespace tessera::actors
