// Automatic blocks: a TorchScript module cut into a DAG of blocks along its
// forward graph, so that an imported model shares, streams and fuses by block
// as the zoo's models do. The rule (docs/model-format.md):
//  - the forward graph is inlined and its attribute reads lifted: tensors
//    become block parameters, other attributes constants (the module is in
//    eval mode);
//  - a cut may fall between two top-level operations where at most two
//    tensors are live (and nothing else), so control flow stays whole;
//  - the model is cut at its best cut points (the fewest live tensors first,
//    then the outermost submodule boundary), and so is each part above the
//    block size; small neighbours from one cut merge again.
// The result depends on the graph and the tensors' sizes only, so fine-tunes
// of one architecture cut identically and share whole parameter blocks.
#pragma once

#include <caf/expected.hpp>
#include <torch/script.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::torch_backend {

/// One block: a script skeleton, a function of the block's inputs and then its
/// tensors p0, p1, .. in the order the code first uses them.
struct cut_block {
  std::string name;                ///< "b<i>", with the submodule it covers if any
  std::string source;              ///< `def forward(v0, .., p0, p1, ..)`
  std::string graph;               ///< its compiled graph's text, once run_block checked it
  std::vector<at::Tensor> params;  ///< p0, p1, ..
  std::vector<std::string> inputs; ///< model input names, or "<block>" / "<block>:k"
  size_t outputs = 1;              ///< above 1: forward returns a tuple
};

struct cut_model {
  std::vector<cut_block> blocks;
  std::vector<std::string> outputs; ///< where each of the model's outputs comes from
};

/// The block size the rule aims under when none is given. A constant, not a
/// share of the model: fine-tunes with heads of other sizes then cut alike.
constexpr uint64_t default_max_block_bytes = uint64_t{4} << 20;

/// As max_block_bytes: no cut, the whole forward as one script block (a stage
/// of a stage folder made canonical).
constexpr uint64_t keep_whole = UINT64_MAX;

/// Cuts `mod` (in eval mode) into blocks of at most `max_block_bytes` of
/// tensors where the graph allows it (0: the default). `input_names` name the
/// forward's arguments. A module that cannot be cut gives one block.
caf::expected<cut_model> cut_into_blocks(const torch::jit::Module& mod,
                                         const std::vector<std::string>& input_names,
                                         uint64_t max_block_bytes);

} // namespace tessera::torch_backend
