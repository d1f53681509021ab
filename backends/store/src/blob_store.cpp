#include "tessera/store/blob_store.hpp"

#include "tessera/core/error.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace tessera::store {

namespace fs = std::filesystem;

namespace {

caf::error os_error(const std::string& what, const std::string& path) {
  return make_error(ec::io_error, what + " " + path + ": " + std::strerror(errno));
}

caf::error unknown(const content_id& id) {
  return make_error(ec::unknown_blob, "blob " + id.to_hex() + " is not in the store");
}

// An open blob file; closes on scope exit.
struct blob_fd {
  int fd = -1;
  ~blob_fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

caf::error read_exact(int fd, void* dst, size_t bytes, off_t offset,
                      const std::string& path) {
  auto* out = static_cast<std::byte*>(dst);
  while (bytes > 0) {
    ssize_t r = ::pread(fd, out, bytes, offset);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return os_error("cannot read", path);
    if (r == 0)
      return make_error(ec::corrupt_blob, path + ": file is truncated");
    out += r;
    bytes -= static_cast<size_t>(r);
    offset += r;
  }
  return {};
}

// Opens a blob and checks its header against the id and the file size.
caf::expected<blob_header> open_blob(const blob_store& store, const content_id& id,
                                     blob_fd& f) {
  auto path = store.path_of(id);
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0)
    return errno == ENOENT ? unknown(id) : os_error("cannot open", path);
  std::array<std::byte, blob_header_bytes> page;
  auto where = "blob " + id.to_hex();
  if (auto err = read_exact(f.fd, page.data(), page.size(), 0, path))
    return code_of(err) == ec::corrupt_blob ? make_error(ec::corrupt_blob, where + ": file is truncated") : err;
  auto h = decode_blob_header(page.data(), where);
  if (!h)
    return h.error();
  if (h->id != id)
    return make_error(ec::corrupt_blob, where + ": header names blob " + h->id.to_hex());
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    return os_error("cannot stat", path);
  if (static_cast<uint64_t>(st.st_size) != blob_header_bytes + h->data_bytes)
    return make_error(ec::corrupt_blob,
                      where + ": file holds " + std::to_string(st.st_size - blob_header_bytes)
                        + " data bytes, header says " + std::to_string(h->data_bytes));
  return h;
}

caf::error check_hash(const blob_header& h, const std::byte* data) {
  auto actual = blob_id_of(h.spec, data, h.data_bytes);
  if (actual != h.id)
    return make_error(ec::corrupt_blob, "blob " + h.id.to_hex()
                                          + ": bytes hash to " + actual.to_hex()
                                          + " (the file is corrupt)");
  return {};
}

} // namespace

blob_store::blob_store(std::string root) : root_(std::move(root)) {
  // nop
}

std::string blob_store::path_of(const content_id& id) const {
  auto hex = id.to_hex();
  return root_ + "/blobs/" + hex.substr(0, 2) + "/" + hex + ".blob";
}

caf::expected<content_id> blob_store::put(const tensor_spec& spec, const void* data,
                                          const write_progress& progress) const {
  if (!spec.concrete())
    return make_error(ec::invalid_argument,
                      "cannot store a tensor of non-concrete type " + to_string(spec));
  if (spec.shape.size() > blob_max_rank)
    return make_error(ec::invalid_argument, "cannot store a tensor of rank "
                                              + std::to_string(spec.shape.size()));
  blob_header h{blob_id_of(spec, data, spec.bytes()), spec, spec.bytes()};
  auto path = path_of(h.id);
  if (contains(h.id))
    return h.id;
  std::error_code fs_err;
  fs::create_directories(fs::path{path}.parent_path(), fs_err);
  if (fs_err)
    return make_error(ec::io_error, "cannot create " + fs::path{path}.parent_path().string()
                                      + ": " + fs_err.message());
  auto page = encode_blob_header(h);
  auto err = write_file_atomically(root_ + "/tmp", path,
                                   {{page.data(), page.size()}, {data, h.data_bytes}},
                                   progress);
  if (err)
    return err;
  return h.id;
}

bool blob_store::contains(const content_id& id) const {
  struct stat st {};
  return ::stat(path_of(id).c_str(), &st) == 0;
}

caf::expected<blob_header> blob_store::header(const content_id& id) const {
  blob_fd f;
  return open_blob(*this, id, f);
}

caf::expected<tensor_buffer> blob_store::read(const content_id& id, read_method method,
                                              bool verify) const {
  blob_fd f;
  auto h = open_blob(*this, id, f);
  if (!h)
    return h.error();
  tensor_buffer t;
  t.spec = h->spec;
  t.bytes = h->data_bytes;
  if (method == read_method::map) {
    size_t len = blob_header_bytes + h->data_bytes;
    // Read-only: populating a writable private mapping would copy every page.
    // Verification touches every page anyway, so it maps without populating.
    int flags = MAP_PRIVATE | (verify ? 0 : MAP_POPULATE);
    void* base = ::mmap(nullptr, len, PROT_READ, flags, f.fd, 0);
    if (base == MAP_FAILED)
      return os_error("cannot map", path_of(id));
    t.owner = std::shared_ptr<const void>(base, [len](const void* p) {
      ::munmap(const_cast<void*>(p), len);
    });
    t.data = static_cast<const std::byte*>(base) + blob_header_bytes;
  } else {
    std::byte* dst = nullptr;
    t = tensor_buffer::allocate(h->spec, &dst);
    if (auto err = read_exact(f.fd, dst, h->data_bytes, blob_header_bytes, path_of(id)))
      return err;
  }
  if (verify)
    if (auto err = check_hash(*h, t.data))
      return err;
  return t;
}

blob_file::blob_file(blob_file&& other) noexcept
  : fd_(other.fd_), header_(std::move(other.header_)), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

blob_file& blob_file::operator=(blob_file&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = other.fd_;
    header_ = std::move(other.header_);
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

blob_file::~blob_file() {
  if (fd_ >= 0)
    ::close(fd_);
}

caf::error blob_file::read_data(void* dst, size_t bytes, uint64_t data_offset) const {
  if (data_offset + bytes > header_.data_bytes)
    return make_error(ec::invalid_argument, path_ + ": read past the end of the data");
  return read_exact(fd_, dst, bytes, static_cast<off_t>(blob_header_bytes + data_offset), path_);
}

void blob_file::advise_sequential() const {
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
}

caf::expected<blob_header> blob_store::read_small(const content_id& id, void* dst,
                                                 uint64_t data_bytes, bool verify) const {
  auto path = path_of(id);
  blob_fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0)
    return errno == ENOENT ? unknown(id) : os_error("cannot open", path);
  std::array<std::byte, blob_header_bytes> page;
  std::byte past_end{};
  iovec parts[3] = {{page.data(), page.size()}, {dst, data_bytes}, {&past_end, 1}};
  ssize_t got = 0;
  do
    got = ::preadv(f.fd, parts, 3, 0);
  while (got < 0 && errno == EINTR);
  if (got < 0)
    return os_error("cannot read", path);
  auto where = "blob " + id.to_hex();
  if (static_cast<size_t>(got) < blob_header_bytes)
    return make_error(ec::corrupt_blob, where + ": file is truncated");
  auto h = decode_blob_header(page.data(), where);
  if (!h)
    return h.error();
  if (h->id != id)
    return make_error(ec::corrupt_blob, where + ": header names blob " + h->id.to_hex());
  if (h->data_bytes != data_bytes || static_cast<uint64_t>(got) != blob_header_bytes + data_bytes)
    return make_error(ec::corrupt_blob, where + ": file holds "
                                          + std::to_string(got - static_cast<ssize_t>(blob_header_bytes))
                                          + (static_cast<uint64_t>(got) > blob_header_bytes + data_bytes ? " or more" : "")
                                          + " data bytes, expected " + std::to_string(data_bytes)
                                          + " (header says " + std::to_string(h->data_bytes) + ")");
  if (verify)
    if (auto err = check_hash(*h, static_cast<const std::byte*>(dst)))
      return err;
  return h;
}

caf::expected<blob_file> blob_store::open(const content_id& id) const {
  blob_fd f;
  auto h = open_blob(*this, id, f);
  if (!h)
    return h.error();
  blob_file out;
  out.fd_ = f.fd;
  f.fd = -1;
  out.header_ = std::move(*h);
  out.path_ = path_of(id);
  return out;
}

caf::error blob_store::verify(const content_id& id) const {
  auto t = read(id, read_method::map, true);
  return t ? caf::error{} : t.error();
}

std::vector<content_id> blob_store::list() const {
  std::vector<content_id> out;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator{root_ + "/blobs", ec}) {
    if (!entry.is_regular_file() || entry.path().extension() != ".blob")
      continue;
    if (auto id = parse_content_id(entry.path().stem().string()))
      out.push_back(*id);
  }
  return out;
}

caf::expected<size_t> blob_store::file_bytes(const content_id& id) const {
  struct stat st {};
  if (::stat(path_of(id).c_str(), &st) != 0)
    return unknown(id);
  return static_cast<size_t>(st.st_size);
}

} // namespace tessera::store
