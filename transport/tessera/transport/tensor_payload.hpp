// A named tensor as it travels in requests and responses (`inputs`, `outputs`), and
// the free-form `parameters` maps of the Open Inference Protocol. Tensor bytes are a
// tessera::tensor_buffer, so decoded tensors view the received frames without copies.
#pragma once

#include "tessera/core/tensor_buffer.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace tessera::transport {

/// One named tensor. On the wire: {name, datatype, shape, data}.
struct tensor_payload {
  std::string name;
  tensor_buffer tensor;
};

/// A named tensor type without data, as model metadata lists inputs and outputs.
struct tensor_metadata {
  std::string name;
  tensor_spec spec; ///< dynamic dimensions are -1
};

/// A value of a `parameters` map: bool, integer, float or string, as in KServe v2.
using parameter_value = std::variant<bool, int64_t, double, std::string>;

/// Free-form options of a request or response, passed through to the handler.
using parameter_map = std::map<std::string, parameter_value>;

} // namespace tessera::transport
