// The LibTorch executor: binds resident blobs into compiled skeletons (no copy
// on the CPU) and runs a model's block DAG on the CPU or on CUDA. This header is
// free of LibTorch; everything torch-specific stays in backends/torch/src.
#pragma once

#include "tessera/backend/model_executor.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/store/skeleton_store.hpp"

#include <memory>
#include <string>

namespace tessera::torch_backend {

struct torch_options {
  /// "cpu" or "cuda:N".
  std::string device = "cpu";
  /// Intra-op threads; 0 keeps LibTorch's default.
  uint32_t threads = 0;
  /// LibTorch's profiling graph executor re-optimises per input shape and makes
  /// the first calls 2-3x slower; the simple executor runs every call alike.
  bool profiling_executor = false;
  /// The residency manager's device tier is this device's own memory (GPU
  /// memory, from backends/cuda): blobs are bound as tensors on `device`
  /// where they lie, with no copy. Otherwise a non-CPU device gets a copy of
  /// each parameter when a model is loaded.
  bool params_on_device = false;
};

/// Makes an executor whose models lease their blobs from `residency` and
/// compile skeletons from `skeletons`; both must outlive it. Fails for a
/// device this build lacks.
caf::expected<std::unique_ptr<backend::model_executor>>
make_torch_executor(const torch_options& opts, residency::residency_manager& residency,
                    const store::skeleton_store& skeletons);

/// True when this LibTorch build can use CUDA and a GPU is present.
bool cuda_available();

/// Forgets every compiled skeleton of this process (for cold-start benchmarks).
void clear_compiled_skeletons();

/// Number of skeletons compiled and cached in this process.
size_t compiled_skeleton_count();

/// The runtime compiled graphs are kept for in the store: "libtorch-<version>".
/// A graph kept for another version is not read.
std::string graph_runtime();

} // namespace tessera::torch_backend
