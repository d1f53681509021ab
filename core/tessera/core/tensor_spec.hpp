// The type of a tensor: dtype plus shape, where -1 marks a dynamic dimension
// (the batch dimension of model inputs and outputs). Pure data, used by manifests,
// the store's blob headers and request validation.
#pragma once

#include "tessera/core/dtype.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

/// A dimension of -1 is dynamic; all others must be positive.
constexpr int64_t dynamic_dim = -1;

struct tensor_spec {
  dtype type = dtype::float32;
  std::vector<int64_t> shape;

  /// True when no dimension is dynamic.
  bool concrete() const;

  /// Number of elements; only meaningful for concrete specs.
  int64_t elements() const;

  /// Bytes of a concrete tensor of this spec.
  size_t bytes() const;

  /// True when `actual` (concrete) fits this spec: same dtype and rank, and
  /// equal sizes wherever this spec is not dynamic.
  bool accepts(const tensor_spec& actual) const;

  friend bool operator==(const tensor_spec& a, const tensor_spec& b) {
    return a.type == b.type && a.shape == b.shape;
  }
  friend bool operator!=(const tensor_spec& a, const tensor_spec& b) {
    return !(a == b);
  }
};

/// "[-1,3,224,224]"
std::string shape_to_string(const std::vector<int64_t>& shape);

/// "float32[-1,3,224,224]"
std::string to_string(const tensor_spec& spec);

} // namespace tessera
