// The on-disk layout of one tensor blob. Format 2 (what the store writes):
// the raw little-endian bytes at offset 0, then a trailer of fields. The data
// starts on a page boundary, so a mapped blob is used in place and direct I/O
// can read it without a bounce buffer, and the file holds 192 bytes beside
// its tensor. Format 1 (read, and kept by an in-place restore): a 4096-byte
// header page, then the data.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/core/tensor_spec.hpp"

#include <caf/expected.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace tessera::store {

constexpr size_t blob_max_rank = 16;
/// The fields of a blob file: the trailer of format 2, the leading part of
/// format 1's header page (the rest of the page is zero padding).
constexpr size_t blob_field_bytes = 64 + 8 * blob_max_rank;
/// Format 1's header page, before the data.
constexpr size_t blob_header_page_bytes = 4096;
constexpr uint32_t blob_format_header_page = 1;
constexpr uint32_t blob_format_trailer = 2;

struct blob_header {
  content_id id;
  tensor_spec spec;
  uint64_t data_bytes = 0;
  uint32_t format = blob_format_trailer;

  /// Where the data starts in the file.
  uint64_t data_offset() const {
    return format == blob_format_header_page ? blob_header_page_bytes : 0;
  }
  /// Where the fields start in the file.
  uint64_t fields_offset() const {
    return format == blob_format_header_page ? 0 : data_bytes;
  }
  /// The whole file's length.
  uint64_t file_bytes() const {
    return data_bytes +
           (format == blob_format_header_page ? blob_header_page_bytes : blob_field_bytes);
  }
};

using blob_fields = std::array<std::byte, blob_field_bytes>;

/// Encodes the fields: magic "TSRBLOB1" or "TSRBLOB2" (as `h.format` says),
/// version, dtype, rank, dims, size, id.
blob_fields encode_blob_fields(const blob_header& h);

/// Decodes and checks the fields of the blob file meant to hold `id`, of
/// either format; errors name that blob. (The id in the fields is for the
/// caller to compare.)
caf::expected<blob_header> decode_blob_fields(const std::byte* fields, const content_id& id);

/// The format of a file of `file_bytes` that holds `data_bytes` of data,
/// from the lengths alone; none when neither format fits.
std::optional<uint32_t> blob_format_of(uint64_t file_bytes, uint64_t data_bytes);

/// Where a file of `file_bytes` keeps its fields if it is of `format`; none
/// when it is too short to be.
std::optional<uint64_t> blob_fields_offset(uint32_t format, uint64_t file_bytes);

} // namespace tessera::store
