#include "tessera/core/dtype.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace tessera {

namespace {

struct dtype_row {
  dtype type;
  size_t bytes;
  const char* name;
  const char* kserve;
};

constexpr std::array<dtype_row, 10> dtype_table{{
  {dtype::float32, 4, "float32", "FP32"},
  {dtype::float64, 8, "float64", "FP64"},
  {dtype::float16, 2, "float16", "FP16"},
  {dtype::bfloat16, 2, "bfloat16", "BF16"},
  {dtype::int8, 1, "int8", "INT8"},
  {dtype::int16, 2, "int16", "INT16"},
  {dtype::int32, 4, "int32", "INT32"},
  {dtype::int64, 8, "int64", "INT64"},
  {dtype::uint8, 1, "uint8", "UINT8"},
  {dtype::boolean, 1, "bool", "BOOL"},
}};

const dtype_row& row(dtype t) {
  for (const auto& r : dtype_table)
    if (r.type == t)
      return r;
  return dtype_table[0]; // unreachable for valid enum values
}

} // namespace

size_t element_bytes(dtype t) {
  return row(t).bytes;
}

const char* to_string(dtype t) {
  return row(t).name;
}

const char* to_kserve_name(dtype t) {
  return row(t).kserve;
}

caf::expected<dtype> parse_dtype(std::string_view name) {
  // Either spelling, in any case: "float32", "FP32", "fp32".
  auto same = [&](std::string_view known) {
    return name.size() == known.size() &&
           std::equal(name.begin(), name.end(), known.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  };
  for (const auto& r : dtype_table)
    if (same(r.name) || same(r.kserve))
      return r.type;
  return make_error(ec::invalid_argument,
                    "unknown dtype \"" + std::string{name} +
                        "\" (expected float32, float64, float16, bfloat16, int8, "
                        "int16, int32, int64, uint8 or bool, or the wire's FP32, INT64, ...)");
}

caf::expected<dtype> dtype_from_code(uint8_t code) {
  for (const auto& r : dtype_table)
    if (static_cast<uint8_t>(r.type) == code)
      return r.type;
  return make_error(ec::invalid_argument,
                    "unknown dtype code " + std::to_string(code));
}

} // namespace tessera
