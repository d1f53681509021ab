// What a benchmark needs to load models the way a node does: a device tier (the
// CPU arena), a residency manager over the store and a LibTorch executor. Each
// rig starts empty, so a fresh rig is a cold start (page cache aside).
#pragma once

#include "tessera/residency/cpu_arena.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/torch/torch_executor.hpp"

#include <memory>

namespace tessera::bench {

struct load_rig {
  residency::cpu_arena arena;
  std::unique_ptr<residency::residency_manager> residency;
  std::unique_ptr<backend::model_executor> exec;

  static caf::expected<std::unique_ptr<load_rig>>
  make(const store::block_store& st, residency::residency_options opts = {}) {
    auto rig = std::make_unique<load_rig>();
    rig->residency = std::make_unique<residency::residency_manager>(st, rig->arena, opts);
    auto exec = torch_backend::make_torch_executor({}, *rig->residency, st.skeletons());
    if (!exec)
      return exec.error();
    rig->exec = std::move(*exec);
    return rig;
  }

  ~load_rig() {
    exec.reset();
    residency.reset();
  }
};

} // namespace tessera::bench
