// A single-process runtime for the CLI: one store, one residency manager over
// the CPU arena and one LibTorch executor, with loaded models kept by name so that later loads
// reuse resident blocks. `tessera run` and `tessera demo` use it; the node's
// actors replace it with the loader and executor actors.
#pragma once

#include "tessera/backend/model_executor.hpp"
#include "tessera/core/node_config.hpp"
#include "tessera/backend/device_memory.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/expected.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tessera::cli {

class local_runtime {
public:
  static caf::expected<std::unique_ptr<local_runtime>> open(const node_config& cfg,
                                                            store::block_store store);

  /// Returns the loaded model, loading it (and reporting the load) if needed.
  caf::expected<std::shared_ptr<backend::loaded_model>>
  model(const std::string& ref, backend::load_report* report = nullptr);

  caf::expected<std::vector<tensor_buffer>> run(const backend::loaded_model& m,
                                                const std::vector<tensor_buffer>& inputs);

  /// Drops a loaded model; its blobs leave memory unless another model holds them.
  void unload(const std::string& ref);

  const store::block_store& store() const {
    return store_;
  }
  residency::residency_manager& residency() {
    return *residency_;
  }

  /// Names of the loaded models.
  std::vector<std::string> loaded() const;

private:
  local_runtime(store::block_store store) : store_(std::move(store)) {
    // nop
  }

  store::block_store store_;
  // Members are destroyed in reverse: models, the executor and the manager go
  // before the device memory they use.
  std::unique_ptr<backend::device_memory> arena_; ///< the device tier
  std::unique_ptr<residency::residency_manager> residency_;
  std::unique_ptr<backend::model_executor> executor_;
  std::map<std::string, std::shared_ptr<backend::loaded_model>> loaded_;
};

/// Random inputs (seeded) for every model input at the given batch size.
std::vector<tensor_buffer> random_inputs(const model_manifest& m, int64_t batch, uint64_t seed);

/// Prints each output's name, shape and checksum, and for [batch, classes]
/// float outputs the top classes of the first row.
void print_outputs(const model_manifest& m, const std::vector<tensor_buffer>& outputs,
                   const std::string& indent = "  ");

} // namespace tessera::cli
