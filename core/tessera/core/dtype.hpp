// Element types of tensors, with the stable codes that blob ids and the wire use.
// Names follow PyTorch ("float32"); the KServe names ("FP32") parse as well.
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera {

/// Element type. The numeric values are part of the blob id and the wire format.
enum class dtype : uint8_t {
  float32 = 1,
  float64 = 2,
  float16 = 3,
  bfloat16 = 4,
  int8 = 5,
  int16 = 6,
  int32 = 7,
  int64 = 8,
  uint8 = 9,
  boolean = 10,
};

/// Bytes per element.
size_t element_bytes(dtype t);

/// PyTorch-style name: "float32", "int64", "bool".
const char* to_string(dtype t);

/// KServe v2 name: "FP32", "INT64", "BOOL".
const char* to_kserve_name(dtype t);

/// Parses either naming, in any case ("float32", "FP32", "fp32"); errors name
/// the offending text.
caf::expected<dtype> parse_dtype(std::string_view name);

/// Maps a stored code back to a dtype, refusing unknown codes.
caf::expected<dtype> dtype_from_code(uint8_t code);

} // namespace tessera
