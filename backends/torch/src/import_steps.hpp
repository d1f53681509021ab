// The steps that importing TorchScript shares between a file and a folder of
// stages: storing tensors and blocks, running code once on sample inputs, and
// telling LibTorch's errors to a person. Private to backends/torch.
#pragma once

#include "auto_blocks.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/expected.hpp>
#include <torch/script.h>

#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace tessera::torch_backend {

/// Stores one tensor as a blob (deduplicated), bound under `name`.
caf::expected<param_binding> put_tensor(const store::block_store& store, const std::string& name,
                                        const at::Tensor& value);

/// Stores a module's tensors as blobs, empties them, and stores what remains as
/// a module skeleton. Returns the node (name and inputs left to the caller).
caf::expected<node_spec> split_module(const store::block_store& store, torch::jit::Module mod);

/// Stores an automatic block: its code as a script skeleton (with its graph,
/// where run_block checked one), its tensors as blobs bound to the arguments
/// p0, p1, ...
caf::expected<node_spec> store_block(const store::block_store& store, const cut_block& b);

/// Random inputs of the declared types, with a batch of 2.
caf::expected<std::vector<tensor_buffer>> sample_inputs(const std::vector<io_spec>& inputs);

/// A LibTorch error for a person: a TorchScript interpreter error carries a
/// traceback of the scripted code (tens of lines); its last line says what failed.
std::string cause_of(const std::exception& e);

/// "float32[2,3]", for messages.
std::string spec_text(const at::Tensor& t);

/// Runs a module's forward, or a compiled function, once on sample inputs.
/// Returns why it failed (LibTorch's last line), or nothing.
template <class Callable>
std::string sample_forward(Callable& code, std::vector<c10::IValue> args, c10::IValue& result) {
  try {
    c10::InferenceMode inference;
    if constexpr (std::is_same_v<Callable, torch::jit::Module>)
      result = code.forward(std::move(args));
    else
      result = code(std::move(args));
    return {};
  } catch (const std::exception& e) {
    return cause_of(e);
  }
}

/// Compiles a block's source, prints its graph and parses that back, as an
/// executor does from a kept graph, and runs it on the values its inputs
/// name: what is checked is what runs. Sets `b.graph` to the text (empty
/// where it does not parse: executors then compile the source, which is
/// what runs here). Returns why it failed, or nothing.
std::string run_block(cut_block& b, const std::map<std::string, at::Tensor>& values,
                      c10::IValue& result);

/// The same dtype, shape and bytes.
bool bit_identical(const at::Tensor& a, const at::Tensor& b);

/// Keeps a sample run's result under its stage's name ("name:k" for the
/// elements of a tuple) and gives a tensor result's type, its batch dimension
/// free. False for a result that is neither a tensor nor a tuple.
bool keep_result(std::map<std::string, at::Tensor>& values, const std::string& name,
                 const c10::IValue& result, std::optional<tensor_spec>& spec);

} // namespace tessera::torch_backend
