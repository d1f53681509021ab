#include "tessera/residency/blob_transfer.hpp"

#include "tessera/core/content_id.hpp"
#include "tessera/core/error.hpp"
#include "tessera/cuda/staged_copier.hpp"

namespace tessera::residency {

caf::expected<transferred_blob> read_blob(const store::blob_store& store, const content_id& id,
                                          uint64_t bytes, backend::device_memory& device,
                                          bool to_heap, bool verify) {
  if (!to_heap && !device.host_accessible())
    return make_error(ec::unsupported, "blob " + id.to_hex() +
                                           ": reads straight into device memory need a "
                                           "host-accessible device");
  transferred_blob out;
  std::byte* dst = nullptr;
  if (to_heap) {
    // A heap copy of a few KiB is cheaper than a mapping of its own.
    auto t =
        tensor_buffer::allocate(tensor_spec{dtype::uint8, {static_cast<int64_t>(bytes)}}, &dst);
    out.memory = std::const_pointer_cast<void>(t.owner);
  } else {
    auto block = device.allocate(bytes);
    if (!block)
      return wrap(block.error(), "blob " + id.to_hex());
    dst = block->data;
    out.memory = std::move(block->owner);
  }
  auto h = store.read_into(id, dst, bytes, verify);
  if (!h)
    return h.error();
  out.spec = std::move(h->spec);
  out.data = dst;
  out.bytes = bytes;
  out.bytes_read = bytes;
  return out;
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

namespace {

/// A blob opened for a copy: its file, the device memory it goes to, and the
/// hasher its chunks go through.
struct blob_copy {
  store::blob_file file;
  transferred_blob out;
  std::unique_ptr<blob_hasher> hasher;

  caf::error finish(const content_id& id) const {
    if (hasher && hasher->digest() != id)
      return make_error(ec::corrupt_blob, "blob " + id.to_hex() + ": bytes hash to "
                                            + hasher->digest().to_hex() + " (the file is corrupt)");
    return {};
  }
};

caf::expected<blob_copy> open_blob_copy(const store::blob_store& store, const content_id& id,
                                        backend::device_memory& device, bool verify) {
  auto file = store.open(id);
  if (!file)
    return file.error();
  const auto& h = file->header();
  file->advise_sequential();
  auto block = device.allocate(h.data_bytes);
  if (!block)
    return wrap(block.error(), "blob " + id.to_hex());
  blob_copy c;
  c.out.spec = h.spec;
  c.out.data = block->data;
  c.out.bytes = h.data_bytes;
  c.out.memory = std::move(block->owner);
  if (verify)
    c.hasher = std::make_unique<blob_hasher>(h.spec);
  c.file = std::move(*file);
  return c;
}

} // namespace

caf::expected<transferred_blob> stage_blob_to_device(const store::blob_store& store,
                                                     const content_id& id,
                                                     backend::device_memory& device,
                                                     const staging_route& route, bool verify) {
  auto c = open_blob_copy(store, id, device, verify);
  if (!c)
    return c.error();
  auto& out = c->out;
  // A kept mapping that failed a read or the hash is not used again: the
  // next read goes to the file itself.
  auto failed = [&](caf::error err) {
    if (c->file.mapped())
      store.mappings().forget(id);
    return err;
  };
  {
    // Declared after the device memory, so it is gone (every copy waited
    // for) before that memory could be freed on an error.
    cuda::staged_copier copier{route.engine, route.pool, route.depth};
    auto err = copier.copy(out.data, out.bytes, [&](std::byte* buffer, uint64_t offset, size_t n) {
      if (auto read_err = c->file.read_data(buffer, n, offset))
        return read_err;
      if (c->hasher)
        c->hasher->update(buffer, n);
      return caf::error{};
    });
    if (!err)
      err = copier.flush();
    if (err)
      return failed(std::move(err));
  }
  out.bytes_read = out.bytes;
  out.copies = out.bytes > 0 ? 1 : 0;
  if (auto err = c->finish(id))
    return failed(std::move(err));
  store.keep_mapped(id, c->file); // the next read copies into staging from memory
  return std::move(out);
}

} // namespace tessera::residency
