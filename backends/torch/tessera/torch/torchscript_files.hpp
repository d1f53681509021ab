// Ordinary TorchScript files in and out of the store:
//  - export writes a stored model as one self-contained TorchScript file (the
//    form `torch::jit::load` reads), which is the baseline of `tessera bench load`;
//  - import takes a user's TorchScript file (one block) or a folder of stage files
//    with a DAG description (several blocks) and stores its tensors deduplicated;
//  - the reference runner runs a TorchScript file directly, so tests can compare.
#pragma once

#include "tessera/core/manifest.hpp"
#include "tessera/core/tensor_buffer.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/expected.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tessera::torch_backend {

/// Writes `m` as one TorchScript module file whose forward takes the model's
/// inputs and returns its output (a tuple when there are several).
caf::error export_torchscript(const store::block_store& store, const model_manifest& m,
                              const std::string& path);

struct import_options {
  std::string name;
  uint32_t version = 1;
  std::string description;
  /// The model's family (`tessera models` groups by it); empty: none.
  std::string family;
  /// Declared inputs; every dimension but the batch must be concrete.
  std::vector<io_spec> inputs;
  /// Output names; defaults to "output" or "output0".. for tuples.
  std::vector<std::string> output_names;
  /// 1: the file stays one block; 0: automatic blocks (docs/model-format.md).
  uint32_t blocks = 0;
  /// The size automatic blocks aim under; 0: 4 MiB.
  uint64_t max_block_bytes = 0;
  /// Told why a file that was to be cut stays one block.
  std::function<void(const std::string&)> note;
};

/// Imports one TorchScript file, cut into automatic blocks unless `opts.blocks`
/// is 1. Output types are found by running one sample batch, and the blocks
/// must give the file's outputs bit for bit on it. The manifest is validated
/// and stored.
caf::expected<model_manifest> import_torchscript_file(const store::block_store& store,
                                                      const std::string& path,
                                                      const import_options& opts);

/// Imports a folder holding `dag.json` and the TorchScript stage files it names
/// (format in docs/model-format.md) as a multi-block model.
caf::expected<model_manifest> import_torchscript_dag(const store::block_store& store,
                                                     const std::string& folder);

/// Loads a TorchScript file with torch::jit::load and runs forward once.
caf::expected<std::vector<tensor_buffer>>
run_torchscript_file(const std::string& path, const std::vector<tensor_buffer>& inputs);

/// Milliseconds that torch::jit::load takes to make the file ready to run.
caf::expected<double> time_torchscript_load(const std::string& path);

} // namespace tessera::torch_backend
