// A module's forward as one flat graph, and a graph back as source: the two
// ends of cutting a TorchScript module into blocks (auto_blocks.hpp).
// Private to backends/torch (it includes LibTorch).
#pragma once

#include <caf/expected.hpp>
#include <torch/script.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tessera::torch_backend {

/// The forward graph with every attribute read lifted: tensors become graph
/// inputs after the real ones (`params` lists them, by dotted path), other
/// attributes constants. `self` is gone.
struct lowered {
  std::shared_ptr<torch::jit::Graph> graph;
  size_t real_inputs = 0;
  std::vector<std::pair<std::string, at::Tensor>> params;
};

/// Inlines `mod`'s forward and lifts every attribute read: a tensor becomes a
/// graph input, anything else a constant (the module is in eval mode, so
/// `if self.training:` folds away). Tensors written into the code are lifted
/// too. Refused where forward uses the module in another way.
caf::expected<lowered> lower(const torch::jit::Module& mod);

/// The TorchScript source of `g` as a function `forward` that compile_script
/// reads back, every value renamed by its place (so the same code prints the
/// same source) but the inputs `names` lists, which take the names given.
caf::expected<std::string> print_function(const std::shared_ptr<torch::jit::Graph>& g,
                                          const std::vector<std::pair<size_t, std::string>>& names);

} // namespace tessera::torch_backend
