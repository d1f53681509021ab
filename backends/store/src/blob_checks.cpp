#include "blob_checks.hpp"

#include "tessera/core/error.hpp"

#include <cerrno>
#include <cstring>

#include <unistd.h>

namespace tessera::store {

caf::error os_error(const std::string& what, const std::string& path) {
  return make_error(ec::io_error, what + " " + path + ": " + std::strerror(errno));
}

caf::error check_storable(const tensor_spec& spec) {
  if (!spec.concrete())
    return make_error(ec::invalid_argument,
                      "cannot store a tensor of non-concrete type " + to_string(spec));
  if (spec.shape.size() > blob_max_rank)
    return make_error(ec::invalid_argument,
                      "cannot store a tensor of rank " + std::to_string(spec.shape.size()));
  return {};
}

caf::error unknown(const content_id& id) {
  return make_error(ec::unknown_blob, "blob " + id.to_hex() + " is not in the store");
}

ssize_t read_parts(int fd, iovec* parts, int count, off_t offset) {
  ssize_t total = 0;
  while (count > 0) {
    ssize_t r = ::preadv(fd, parts, count, offset);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r < 0 ? r : total;
    total += r;
    offset += r;
    auto left = static_cast<size_t>(r); // skip the parts filled, then move into the next
    for (; count > 0 && left >= parts->iov_len; ++parts, --count)
      left -= parts->iov_len;
    if (count > 0) {
      parts->iov_base = static_cast<std::byte*>(parts->iov_base) + left;
      parts->iov_len -= left;
    }
  }
  return total;
}

caf::error unreadable_mapping(const content_id& id) {
  return make_error(ec::corrupt_blob, "blob " + id.to_hex() + ": " + unreadable_mapping_text);
}

caf::error truncated(const content_id& id) {
  return make_error(ec::corrupt_blob, "blob " + id.to_hex() + ": file is truncated");
}

caf::error names_other_blob(const content_id& id, const content_id& named) {
  return make_error(ec::corrupt_blob,
                    "blob " + id.to_hex() + ": header names blob " + named.to_hex());
}

caf::error size_error(const content_id& id, uint64_t got, bool more, uint64_t expected,
                      uint64_t header_says) {
  return make_error(ec::corrupt_blob, "blob " + id.to_hex() + ": file holds " +
                                          std::to_string(got) + (more ? " or more" : "") +
                                          " data bytes, expected " + std::to_string(expected) +
                                          " (header says " + std::to_string(header_says) + ")");
}

caf::error hash_error(const content_id& id, const content_id& actual) {
  return make_error(ec::corrupt_blob, "blob " + id.to_hex() + ": bytes hash to " + actual.to_hex() +
                                          " (the file is corrupt)");
}

caf::expected<blob_header> check_header(const content_id& id, const std::byte* fields,
                                        uint64_t data_got, uint64_t data_expected,
                                        uint64_t data_bytes) {
  auto h = decode_blob_fields(fields, id);
  if (!h)
    return h.error();
  if (h->id != id)
    return names_other_blob(id, h->id);
  if (h->data_bytes != data_bytes || data_got != data_expected)
    return size_error(id, data_got, data_got > data_expected, data_bytes, h->data_bytes);
  return h;
}

caf::expected<blob_header> find_header(const content_id& id, uint64_t file_bytes,
                                       const read_at_fn& read_at) {
  for (auto format : {blob_format_trailer, blob_format_header_page}) {
    auto at = blob_fields_offset(format, file_bytes);
    if (!at)
      continue;
    blob_fields fields;
    if (auto err = read_at(fields.data(), fields.size(), *at))
      return err;
    auto h = decode_blob_fields(fields.data(), id);
    if (!h || h->format != format)
      continue;
    if (h->id != id)
      return names_other_blob(id, h->id);
    if (h->file_bytes() != file_bytes) {
      auto beside = h->file_bytes() - h->data_bytes;
      auto got = file_bytes > beside ? file_bytes - beside : 0;
      return size_error(id, got, false, h->data_bytes, h->data_bytes);
    }
    return h;
  }
  if (file_bytes < blob_field_bytes)
    return truncated(id);
  return make_error(ec::corrupt_blob, "blob " + id.to_hex() +
                                          ": no blob fields at the file's end or start (the file is"
                                          " truncated, or not a Tessera blob)");
}

caf::error read_exact(int fd, void* dst, size_t bytes, off_t offset, const std::string& path) {
  iovec whole{dst, bytes};
  auto got = read_parts(fd, &whole, 1, offset);
  if (got < 0)
    return os_error("cannot read", path);
  if (static_cast<size_t>(got) < bytes)
    return make_error(ec::corrupt_blob, path + ": file is truncated");
  return {};
}

caf::error check_hash(const blob_header& h, const std::byte* data) {
  auto actual = blob_id_of(h.spec, data, h.data_bytes);
  return actual != h.id ? hash_error(h.id, actual) : caf::error{};
}

} // namespace tessera::store
