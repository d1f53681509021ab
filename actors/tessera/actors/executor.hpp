// The executor actor: one per device slot, detached because LibTorch calls and
// blob reads block. Its units are models and fused groups: a model that a
// stored group definition lists is served from that group, loaded as one unit
// (its members' sub-DAGs run alone, or several in one pass). It loads on demand
// (swapping out its least recently used units when memory is full) and swaps
// units out under memory pressure until usage is below the low watermark. A
// model or group that cannot be held within the device budget is streamed
// block by block instead (docs/swapping.md, "Serving").
#pragma once

#include "tessera/actors/executor_board.hpp"
#include "tessera/actors/messages.hpp"
#include "tessera/actors/model_states.hpp"
#include "tessera/backend/model_executor.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/torch/streaming.hpp"

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
  /// The node's streaming executor, shared by its executors (their streams
  /// split its budget); null where the device tier cannot stream, and then a
  /// unit too large to hold is refused.
  std::shared_ptr<torch_backend::streaming_executor> stream;
  /// Whether it serves fused groups (whole-model serving does not: it runs
  /// each model from its own file, whatever groups the store defines).
  bool groups = true;
  /// The store's catalogue when the executor starts (read from the store
  /// when null); the registry sends the newer ones.
  catalog_ptr catalog;
  /// Where it publishes its units' lifecycle states, and its own state
  /// (the node's; may be null).
  model_states* states = nullptr;
  executor_board* board = nullptr;
};

executor_actor spawn_executor(caf::actor_system& sys, std::shared_ptr<executor_deps> deps);

} // namespace tessera::actors
