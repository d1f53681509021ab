// Dynamic batching's tensor work: requests for one model whose inputs agree in
// everything but the batch dimension are stacked into one batch, run once, and
// the outputs are split back by rows. Pure functions over tensor_buffers.
#pragma once

#include "tessera/core/tensor_buffer.hpp"

#include <caf/expected.hpp>

#include <vector>

namespace tessera {

/// Rows (dimension 0) of a tensor of rank >= 1; 0 for a scalar.
int64_t rows_of(const tensor_buffer& t);

/// Whether two requests' inputs (in manifest order) can share one batch: the
/// same count, and per input the same dtype and the same shape but dimension 0.
bool batchable(const std::vector<tensor_buffer>& a, const std::vector<tensor_buffer>& b);

/// Stacks tensors along dimension 0 into a new buffer.
caf::expected<tensor_buffer> concat_rows(const std::vector<tensor_buffer>& parts);

/// Splits a tensor along dimension 0 into pieces of the given row counts,
/// which must add up to its rows. The pieces view the original (no copy).
caf::expected<std::vector<tensor_buffer>> split_rows(const tensor_buffer& whole,
                                                     const std::vector<int64_t>& rows);

} // namespace tessera
