// The two ways a blob reaches the device tier. In place: the blob file is mapped
// and the device uses the mapping (CPU, unified memory), so nothing is copied.
// Copy: the data is read in chunks and copied into device memory, each chunk
// hashed while it is hot in cache, so a verified copy costs one pass over the
// bytes rather than two. A device that can address host memory (the CPU arena)
// is read into directly; otherwise chunks go through staging buffers and a copy
// engine (backends/cuda), the next chunk read while the last one is copied.
#pragma once

#include "tessera/backend/device_memory.hpp"
#include "tessera/core/tensor_spec.hpp"
#include "tessera/cuda/copy_engine.hpp"
#include "tessera/cuda/pinned_staging_pool.hpp"
#include "tessera/store/blob_store.hpp"

#include <caf/expected.hpp>

#include <memory>

namespace tessera::residency {

/// A blob in device memory and what bringing it there cost.
struct transferred_blob {
  tensor_spec spec;
  std::byte* data = nullptr; ///< the device address of the tensor's bytes
  uint64_t bytes = 0;
  std::shared_ptr<void> memory; ///< the mapping or device allocation
  uint64_t bytes_read = 0;      ///< bytes read from the store
  uint32_t copies = 0;          ///< copies made after the read (through staging)
};

/// Blobs below this size are read whole in one call rather than mapped or
/// streamed: for them, system calls and page-table work cost more than bytes.
constexpr uint64_t small_blob_bytes = 64u << 10;

/// Reads a whole blob of known size (from its manifest) into memory: a block of
/// `device`, which must be host-accessible, or with `to_heap` a host
/// allocation (small blobs used in place). See blob_store::read_into.
caf::expected<transferred_blob> read_blob(const store::blob_store& store, const content_id& id,
                                          uint64_t bytes, backend::device_memory& device,
                                          bool to_heap, bool verify);

/// Maps the blob and, with `verify`, re-hashes it.
caf::expected<transferred_blob> map_blob_in_place(const store::blob_store& store,
                                                  const content_id& id, bool verify);

/// Where a copy through staging goes: its buffers and the engine that copies.
struct staging_route {
  cuda::copy_engine& engine;
  cuda::pinned_staging_pool& pool;
  size_t depth = 2; ///< buffers in turn, so reads overlap copies
};

/// Allocates device memory and streams the blob into it through staging: each
/// chunk is read into a staging buffer and hashed there, then copied by the
/// engine while the next chunk is read. Returns once every copy completed.
caf::expected<transferred_blob> stage_blob_to_device(const store::blob_store& store,
                                                     const content_id& id,
                                                     backend::device_memory& device,
                                                     const staging_route& route, bool verify);

} // namespace tessera::residency
