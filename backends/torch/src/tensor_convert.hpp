// Conversions between Tessera's tensor_buffer and at::Tensor without copies:
// a buffer becomes a tensor that views its bytes and keeps its owner alive, and a
// contiguous CPU tensor becomes a buffer that keeps the tensor alive.
// Private to backends/torch (it includes LibTorch).
#pragma once

#include "tessera/core/tensor_buffer.hpp"
#include "tessera/torch/torch_executor.hpp"

#include <caf/expected.hpp>
#include <torch/script.h>

#include <string>

namespace tessera::torch_backend {

caf::expected<at::ScalarType> to_scalar_type(dtype t);
caf::expected<dtype> from_scalar_type(at::ScalarType t);

/// A tensor viewing `buf` (no copy). LibTorch must not write to it: blob buffers
/// are read-only mappings.
at::Tensor view_of(const tensor_buffer& buf);

/// The same, for a buffer whose bytes lie in `device`'s memory.
at::Tensor view_of(const tensor_buffer& buf, const c10::Device& device);

/// A buffer viewing a tensor's bytes; non-contiguous or device tensors are made
/// contiguous on the CPU first (the only copy).
caf::expected<tensor_buffer> buffer_of(const at::Tensor& t);

/// The device the options name ("cpu", "cuda:0"), after applying their
/// process-wide LibTorch settings (threads, graph executor); ec::bad_config when
/// it does not parse, ec::unsupported when this build or machine lacks it.
caf::expected<torch::Device> apply_torch_options(const torch_options& opts);

/// The tensors a forward returned: the elements of a tuple, or the one tensor.
std::vector<at::Tensor> tensors_of(const c10::IValue& result);

/// Renders a c10::Error without its C++ backtrace.
std::string torch_message(const std::exception& e);

} // namespace tessera::torch_backend
