// Checks a request's tensors against a model's declared inputs before any
// backend sees them, so every backend refuses bad input the same way.
#pragma once

#include "tessera/core/manifest.hpp"
#include "tessera/core/tensor_buffer.hpp"

#include <caf/error.hpp>

#include <vector>

namespace tessera {

/// Inputs come in manifest order. Errors: ec::missing_input for a wrong count,
/// ec::dtype_mismatch and ec::shape_mismatch naming the input; all tensors must
/// share one batch size, and their byte counts must match their specs.
caf::error check_model_inputs(const model_manifest& m,
                              const std::vector<tensor_buffer>& inputs);

} // namespace tessera
