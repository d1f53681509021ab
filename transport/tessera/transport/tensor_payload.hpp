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

/// The number `key` holds in `params` (an integer or a float), 0 where it is
/// absent or not a number: as the timings of an infer reply are read.
inline double number_parameter(const parameter_map& params, const char* key) {
  auto i = params.find(key);
  if (i == params.end())
    return 0.0;
  if (auto* d = std::get_if<double>(&i->second))
    return *d;
  if (auto* n = std::get_if<int64_t>(&i->second))
    return static_cast<double>(*n);
  return 0.0;
}

} // namespace tessera::transport
