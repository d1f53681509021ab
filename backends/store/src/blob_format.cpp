#include "tessera/store/blob_format.hpp"

#include "tessera/core/error.hpp"

#include <cstring>

namespace tessera::store {

namespace {

// "TSRBLOB" and the format's digit.
constexpr char magic_stem[7] = {'T', 'S', 'R', 'B', 'L', 'O', 'B'};
constexpr size_t magic_bytes = 8;

void put_u64(std::byte* at, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    at[i] = static_cast<std::byte>(x >> (8 * i));
}

uint64_t get_u64(const std::byte* at) {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x |= static_cast<uint64_t>(at[i]) << (8 * i);
  return x;
}

// Field offsets inside the fields.
constexpr size_t off_version = 8;
constexpr size_t off_dtype = 12;
constexpr size_t off_rank = 13;
constexpr size_t off_data_bytes = 16;
constexpr size_t off_id_hi = 24;
constexpr size_t off_id_lo = 32;
constexpr size_t off_dims = 64;
static_assert(off_dims + 8 * blob_max_rank <= blob_field_bytes);

} // namespace

blob_fields encode_blob_fields(const blob_header& h) {
  blob_fields page{};
  std::memcpy(page.data(), magic_stem, sizeof magic_stem);
  page[sizeof magic_stem] = static_cast<std::byte>('0' + h.format);
  put_u64(page.data() + off_version, h.format);
  page[off_dtype] = static_cast<std::byte>(h.spec.type);
  page[off_rank] = static_cast<std::byte>(h.spec.shape.size());
  put_u64(page.data() + off_data_bytes, h.data_bytes);
  put_u64(page.data() + off_id_hi, h.id.hi);
  put_u64(page.data() + off_id_lo, h.id.lo);
  for (size_t i = 0; i < h.spec.shape.size(); ++i)
    put_u64(page.data() + off_dims + 8 * i, static_cast<uint64_t>(h.spec.shape[i]));
  return page;
}

caf::expected<blob_header> decode_blob_fields(const std::byte* page, const content_id& id) {
  // The blob is named only on failure: a load decodes a header per blob.
  auto fail = [&](const std::string& what) {
    return make_error(ec::corrupt_blob, "blob " + id.to_hex() + ": " + what);
  };
  if (std::memcmp(page, magic_stem, sizeof magic_stem) != 0)
    return fail("not a Tessera blob (bad magic)");
  auto format = static_cast<uint32_t>(get_u64(page + off_version) & 0xffffffffu);
  if ((format != blob_format_header_page && format != blob_format_trailer) ||
      page[magic_bytes - 1] != static_cast<std::byte>('0' + format))
    return fail("unsupported blob format version");
  auto type = dtype_from_code(static_cast<uint8_t>(page[off_dtype]));
  if (!type)
    return fail(describe(type.error()));
  auto rank = static_cast<size_t>(page[off_rank]);
  if (rank > blob_max_rank)
    return fail("rank " + std::to_string(rank) + " exceeds " + std::to_string(blob_max_rank));
  blob_header h;
  h.format = format;
  h.spec.type = *type;
  h.spec.shape.resize(rank);
  for (size_t i = 0; i < rank; ++i) {
    auto d = static_cast<int64_t>(get_u64(page + off_dims + 8 * i));
    if (d < 0)
      return fail("negative dimension in header");
    h.spec.shape[i] = d;
  }
  h.data_bytes = get_u64(page + off_data_bytes);
  h.id = content_id{get_u64(page + off_id_hi), get_u64(page + off_id_lo)};
  if (h.data_bytes != h.spec.bytes())
    return fail("header size " + std::to_string(h.data_bytes) + " does not match "
                + to_string(h.spec));
  return h;
}

std::optional<uint32_t> blob_format_of(uint64_t file_bytes, uint64_t data_bytes) {
  for (auto format : {blob_format_trailer, blob_format_header_page}) {
    blob_header h;
    h.format = format;
    h.data_bytes = data_bytes;
    if (h.file_bytes() == file_bytes)
      return format;
  }
  return std::nullopt;
}

std::optional<uint64_t> blob_fields_offset(uint32_t format, uint64_t file_bytes) {
  if (format == blob_format_header_page)
    return file_bytes >= blob_header_page_bytes ? std::optional<uint64_t>{0} : std::nullopt;
  return file_bytes >= blob_field_bytes ? std::optional<uint64_t>{file_bytes - blob_field_bytes}
                                        : std::nullopt;
}

} // namespace tessera::store
