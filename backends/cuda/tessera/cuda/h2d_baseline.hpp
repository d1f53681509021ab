// The ceiling that `tessera bench cuda` measures Tessera's copies against: one
// plain cudaMemcpy of a page-locked buffer into device memory, the fastest a
// host-to-device transfer goes on this bus.
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>

namespace tessera::cuda {

/// Bytes per second of a synchronous cudaMemcpy of `bytes` from pinned memory
/// to GPU `device`, the median of `repeat` runs after one warm-up.
caf::expected<double> pinned_memcpy_bytes_per_s(int device, size_t bytes, uint32_t repeat);

} // namespace tessera::cuda
