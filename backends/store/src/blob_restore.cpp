// Restoring a damaged blob file in place (decision 43): a node whose models
// use a blob in place holds a mapping of its file, so a good copy written to
// a new file and renamed over the old one would leave the mapping on the
// damaged bytes. Writing into the same file changes the mapped pages, and
// the watch on its folder makes the residency core re-hash the blob.
#include "tessera/store/blob_store.hpp"

#include "blob_checks.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/blob_format.hpp"

#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tessera::store {

caf::expected<content_id> blob_store::restore(const tensor_spec& spec, const void* data) const {
  if (auto err = check_storable(spec))
    return err;
  blob_header h{blob_id_of(spec, data, spec.bytes()), spec, spec.bytes()};
  auto path = path_of(h.id);
  if (!contains(h.id))
    return put(spec, data);
  // Writable for the write only; the store's files are read-only otherwise.
  if (::chmod(path.c_str(), 0644) != 0)
    return os_error("cannot make writable", path);
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    auto err = os_error("cannot open for writing", path);
    ::chmod(path.c_str(), 0444);
    return err;
  }
  // The file keeps its format, so a mapping of it sees the data where it was:
  // format 1 when its length is that of format 1 with these data bytes.
  struct stat st {};
  if (::fstat(fd, &st) == 0 &&
      blob_format_of(static_cast<uint64_t>(st.st_size), h.data_bytes) == blob_format_header_page)
    h.format = blob_format_header_page;
  auto fields = encode_blob_fields(h);
  auto err = write_at(fd, path, static_cast<const std::byte*>(data), h.data_bytes,
                      static_cast<off_t>(h.data_offset()));
  if (!err)
    err = write_at(fd, path, fields.data(), fields.size(), static_cast<off_t>(h.fields_offset()));
  if (!err && ::ftruncate(fd, static_cast<off_t>(h.file_bytes())) != 0)
    err = os_error("cannot truncate", path);
  if (!err && ::fdatasync(fd) != 0)
    err = os_error("cannot sync", path);
  ::fchmod(fd, 0444);
  ::close(fd);
  if (err)
    return err;
  return h.id;
}

} // namespace tessera::store
