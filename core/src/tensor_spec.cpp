#include "tessera/core/tensor_spec.hpp"

namespace tessera {

bool tensor_spec::concrete() const {
  for (auto d : shape)
    if (d < 0)
      return false;
  return true;
}

int64_t tensor_spec::elements() const {
  int64_t n = 1;
  for (auto d : shape)
    n *= d;
  return n;
}

size_t tensor_spec::bytes() const {
  return static_cast<size_t>(elements()) * element_bytes(type);
}

bool tensor_spec::accepts(const tensor_spec& actual) const {
  if (type != actual.type || shape.size() != actual.shape.size())
    return false;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != dynamic_dim && shape[i] != actual.shape[i])
      return false;
  return true;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

std::string to_string(const tensor_spec& spec) {
  return std::string{to_string(spec.type)} + shape_to_string(spec.shape);
}

} // namespace tessera
