// NumPy's .npy files (format versions 1 to 3), the form in which Python users
// hold tensors: `tessera run --input NAME=FILE.npy` reads one, and `--output`
// writes each output as one. Little-endian, C order; the dtypes Tessera has
// and NumPy names (bfloat16 has no NumPy name, so it is refused).
#pragma once

#include "tessera/core/tensor_buffer.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace tessera {

/// Whether `bytes` begin as a .npy file does.
bool is_npy(std::string_view bytes);

/// The tensor a .npy file holds, copied out. Errors (ec::invalid_argument)
/// name `what` (a file name) and the part of the header at fault.
caf::expected<tensor_buffer> read_npy(std::string_view bytes, const std::string& what);

/// The .npy file (version 1.0) of a tensor.
caf::expected<std::string> write_npy(const tensor_buffer& t);

} // namespace tessera
