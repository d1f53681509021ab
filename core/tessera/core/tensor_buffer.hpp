// An immutable, reference-counted view of a tensor's bytes in host memory.
// It is the only tensor type that crosses layers: the store hands out mapped
// blobs as tensor_buffers, requests carry them, and backends wrap them without
// copying. The owner keeps the memory (a mapping, a heap block, a message) alive.
#pragma once

#include "tessera/core/tensor_spec.hpp"

#include <cstddef>
#include <memory>
#include <vector>

namespace tessera {

struct tensor_buffer {
  tensor_spec spec;
  const std::byte* data = nullptr;
  size_t bytes = 0;
  std::shared_ptr<const void> owner;

  /// Allocates a zeroed, 64-byte aligned buffer of the given concrete spec.
  /// The returned pointer may be written until the buffer is shared.
  static tensor_buffer allocate(const tensor_spec& spec, std::byte** writable);

  /// Copies `bytes` from `src` into a new owned buffer.
  static tensor_buffer copy_of(const tensor_spec& spec, const void* src);
};

/// A tensor of a concrete spec filled deterministically from `seed`: floats
/// uniform in [-1, 1), integers in [0, 10), booleans alternating.
tensor_buffer random_tensor(const tensor_spec& spec, uint64_t seed);

/// `spec` with its dynamic dimensions replaced by `batch`.
tensor_spec with_batch(const tensor_spec& spec, int64_t batch);

/// A deterministic checksum of a tensor's bytes (xxh3-64), for printing results.
uint64_t checksum(const tensor_buffer& t);

/// Largest relative difference between two float32 tensors of equal spec,
/// |a-b| / max(|a|,|b|,tiny); returns a negative value when specs differ.
double max_relative_difference(const tensor_buffer& a, const tensor_buffer& b);

} // namespace tessera
