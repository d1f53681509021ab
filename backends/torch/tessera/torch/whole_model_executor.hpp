// Whole-model serving, the baseline Tessera is measured against (ModelMesh,
// Ray Serve's model multiplexing, Triton's explicit model control): each
// model is one TorchScript file that `torch::jit::load` reads on a miss, and
// it holds its own copy of every parameter, shared with no other model. The
// node evicts whole models, least recently used, when the next one does not
// fit (executor_units::swap_out_one). docs/whole-model-serving.md.
#pragma once

#include "tessera/backend/model_executor.hpp"
#include "tessera/backend/whole_model_memory.hpp"

#include <memory>
#include <string>

namespace tessera::torch_backend {

struct whole_model_options {
  /// "cpu" or "cuda:N".
  std::string device = "cpu";
  /// Intra-op threads; 0 keeps LibTorch's default.
  uint32_t threads = 0;
  /// The folder of the model files, one per model version (whole_model_file).
  std::string dir;
};

/// The file that serves `name` at `version`: DIR/NAME-VVERSION.pt.
std::string whole_model_file(const std::string& dir, const std::string& name, uint32_t version);

/// Makes an executor that loads whole TorchScript files from `opts.dir`
/// within `memory`, which the node's executors share. A load that does not
/// fit answers ec::out_of_memory (the executor actor then evicts and retries).
caf::expected<std::unique_ptr<backend::model_executor>>
make_whole_model_executor(const whole_model_options& opts,
                          std::shared_ptr<backend::whole_model_memory> memory);

} // namespace tessera::torch_backend
