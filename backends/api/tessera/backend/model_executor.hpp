// The small interface through which actors and tools run models, whatever the
// device: LibTorch on CPU or CUDA (backends/torch) or the simulated device
// (backends/sim). No LibTorch type appears here, which keeps builds fast.
#pragma once

#include "tessera/core/error.hpp"
#include "tessera/core/manifest.hpp"
#include "tessera/core/tensor_buffer.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tessera::backend {

/// What a load did: how much it needed and how much it actually read, so that
/// sharing is visible (bytes_read < bytes when blocks were already resident).
struct load_report {
  size_t blobs = 0;
  size_t blobs_read = 0;
  size_t bytes = 0;
  size_t bytes_read = 0;
  size_t blobs_joined = 0; ///< in flight for another load; waited for
  size_t bytes_evicted = 0;
  size_t skeletons_compiled = 0;
  size_t skeletons_from_graph = 0; ///< of those, parsed from a kept graph, not compiled from source
  double residency_ms = 0.0; ///< bringing the blobs in (the rest is binding)
  double elapsed_ms = 0.0;
};

/// What one run did: how many nodes it computed and the most bytes of node
/// outputs alive at once (request inputs and kernels' scratch not counted).
struct run_stats {
  uint32_t nodes_run = 0;
  uint64_t peak_value_bytes = 0;
};

/// A model bound to resident parameters, ready to run. Dropping the last
/// reference releases its hold on the parameter blobs.
class loaded_model {
public:
  virtual ~loaded_model() = default;
  virtual const model_manifest& manifest() const = 0;
};

class model_executor {
public:
  virtual ~model_executor() = default;

  /// "cpu" or "cuda:0".
  virtual std::string device() const = 0;

  /// Binds a (validated) manifest to resident blobs and compiled skeletons.
  virtual caf::expected<std::shared_ptr<loaded_model>>
  load(const model_manifest& m, load_report* report = nullptr) = 0;

  /// Runs one batch; inputs in manifest order, outputs in manifest order. The
  /// model is pinned while it runs, so it cannot be unloaded underneath.
  virtual caf::expected<std::vector<tensor_buffer>>
  run(const loaded_model& model, const std::vector<tensor_buffer>& inputs) = 0;

  /// Runs only the nodes that the chosen outputs (indices into the manifest's
  /// outputs) need, and returns those outputs in the order asked. Fused groups
  /// use it to run one member's sub-DAG. The default runs the whole model.
  virtual caf::expected<std::vector<tensor_buffer>>
  run_outputs(const loaded_model& model, const std::vector<tensor_buffer>& inputs,
              const std::vector<uint32_t>& outputs, run_stats* stats = nullptr) {
    auto all = run(model, inputs);
    if (!all)
      return all.error();
    std::vector<tensor_buffer> out;
    for (auto i : outputs) {
      if (i >= all->size())
        return make_error(ec::invalid_argument, "model \"" + model.manifest().name + "\" has no output "
                                                  + std::to_string(i));
      out.push_back((*all)[i]);
    }
    if (stats != nullptr)
      *stats = run_stats{static_cast<uint32_t>(model.manifest().nodes.size()), 0};
    return out;
  }

  /// Waits for the model's running batches, drops its tensors and releases its
  /// blobs (cached or freed, as the residency options say). Runs after an
  /// unload fail with ec::unloading.
  virtual void unload(const std::shared_ptr<loaded_model>& model) = 0;
};

} // namespace tessera::backend
