#include "tessera/residency/blob_transfer.hpp"

#include "tessera/core/content_id.hpp"
#include "tessera/core/error.hpp"

namespace tessera::residency {

namespace {

constexpr size_t direct_chunk_bytes = 512u << 10;

} // namespace

caf::expected<transferred_blob> read_small_blob(const store::blob_store& store,
                                                const content_id& id, uint64_t bytes,
                                                backend::device_memory& device, bool in_place,
                                                bool verify) {
  transferred_blob out;
  if (in_place || device.host_accessible()) {
    std::byte* dst = nullptr;
    if (in_place) {
      // A heap copy of a few KiB is cheaper than a mapping of its own.
      auto t = tensor_buffer::allocate(tensor_spec{dtype::uint8, {static_cast<int64_t>(bytes)}}, &dst);
      out.memory = std::const_pointer_cast<void>(t.owner);
    } else {
      auto block = device.allocate(bytes);
      if (!block)
        return wrap(block.error(), "blob " + id.to_hex());
      dst = block->data;
      out.memory = std::move(block->owner);
    }
    auto h = store.read_small(id, dst, bytes, verify);
    if (!h)
      return h.error();
    out.spec = h->spec;
    out.data = dst;
    out.bytes = bytes;
    out.bytes_read = bytes;
    return out;
  }
  return make_error(ec::unsupported, "small reads need a host-accessible device");
}

caf::expected<transferred_blob> map_blob_in_place(const store::blob_store& store,
                                                  const content_id& id, bool verify) {
  auto t = store.read(id, store::read_method::map, verify);
  if (!t)
    return t.error();
  transferred_blob out;
  out.spec = t->spec;
  // The mapping is read-only; the tensor is never written through this pointer.
  out.data = const_cast<std::byte*>(t->data);
  out.bytes = t->bytes;
  out.memory = std::const_pointer_cast<void>(t->owner);
  out.bytes_read = t->bytes;
  return out;
}

caf::expected<transferred_blob> copy_blob_to_device(const store::blob_store& store,
                                                    const content_id& id,
                                                    backend::device_memory& device,
                                                    staging_pool& staging, bool verify,
                                                    bool force_staging) {
  auto file = store.open(id);
  if (!file)
    return file.error();
  const auto& h = file->header();
  file->advise_sequential();
  auto block = device.allocate(h.data_bytes);
  if (!block)
    return wrap(block.error(), "blob " + id.to_hex());
  transferred_blob out;
  out.spec = h.spec;
  out.data = block->data;
  out.bytes = h.data_bytes;
  out.memory = std::move(block->owner);
  std::unique_ptr<blob_hasher> hasher;
  if (verify)
    hasher = std::make_unique<blob_hasher>(h.spec);
  bool direct = device.host_accessible() && !force_staging;
  staging_buffer buffer;
  if (!direct)
    buffer = staging.acquire();
  // Direct reads go in chunks small enough to hash while they are in cache.
  size_t chunk = direct ? direct_chunk_bytes : buffer.bytes();
  for (uint64_t offset = 0; offset < h.data_bytes;) {
    auto n = std::min<uint64_t>(chunk, h.data_bytes - offset);
    auto* dst = direct ? out.data + offset : buffer.data();
    if (auto err = file->read_data(dst, n, offset))
      return err;
    if (hasher)
      hasher->update(dst, n);
    if (!direct) {
      if (auto err = device.copy_from_host(out.data + offset, buffer.data(), n))
        return err;
      // The staging buffer is reused for the next chunk only once the copy is done.
      if (auto err = device.synchronize())
        return err;
    }
    offset += n;
    out.bytes_read += n;
  }
  out.copies = !direct && h.data_bytes > 0 ? 1 : 0;
  if (hasher && hasher->digest() != id)
    return make_error(ec::corrupt_blob, "blob " + id.to_hex() + ": bytes hash to "
                                          + hasher->digest().to_hex() + " (the file is corrupt)");
  return out;
}

} // namespace tessera::residency
