// The on-disk layout of one tensor blob: a 4096-byte header page, then the raw
// little-endian bytes. The data starts on a page boundary, so a memory-mapped blob
// is used in place and direct I/O can read it without a bounce buffer.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/core/tensor_spec.hpp"

#include <caf/expected.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace tessera::store {

constexpr size_t blob_header_bytes = 4096;
constexpr size_t blob_max_rank = 16;
/// The leading part of the header page that holds its fields (the rest is
/// zero padding): what decode_blob_header reads.
constexpr size_t blob_header_field_bytes = 64 + 8 * blob_max_rank;

struct blob_header {
  content_id id;
  tensor_spec spec;
  uint64_t data_bytes = 0;
};

/// Encodes a header page: magic "TSRBLOB1", version, dtype, rank, dims, size, id.
std::array<std::byte, blob_header_bytes> encode_blob_header(const blob_header& h);

/// Decodes and checks the header page of the blob file meant to hold `id`;
/// errors name that blob. (The header's own id is for the caller to compare.)
caf::expected<blob_header> decode_blob_header(const std::byte* page, const content_id& id);

} // namespace tessera::store
