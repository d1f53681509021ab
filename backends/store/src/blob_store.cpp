#include "tessera/store/blob_store.hpp"

#include "blob_checks.hpp"
#include "bus_guard.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/stream_copy.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

namespace tessera::store {

namespace fs = std::filesystem;

namespace {

/// Chunks small enough to hash while they are in cache, large enough that
/// system calls cost little beside the copy.
constexpr uint64_t read_chunk_bytes = 512u << 10;
/// Copies from a kept mapping go in chunks whose source stays in a core's L1
/// and L2 caches between the copy and the hash.
constexpr uint64_t copy_chunk_bytes = 64u << 10;

// An open blob file; closes on scope exit.
struct blob_fd {
  int fd = -1;
  ~blob_fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

// Reads of a blob file for find_header; a short file is truncated.
read_at_fn reads_of(int fd, const content_id& id, const std::string& path) {
  return [fd, &id, &path](std::byte* dst, size_t bytes, uint64_t offset) -> caf::error {
    auto err = read_exact(fd, dst, bytes, static_cast<off_t>(offset), path);
    return err && code_of(err) == ec::corrupt_blob ? truncated(id) : err;
  };
}

// The length of an open file, or -1 with errno set.
int64_t length_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

// Checks the fields of a blob file just opened (or not: `f.fd` < 0 with errno
// set) against the id and the file's length.
caf::expected<blob_header> check_opened(const blob_store& store, const content_id& id, blob_fd& f) {
  if (f.fd < 0)
    return errno == ENOENT ? unknown(id) : os_error("cannot open", store.path_of(id));
  auto path = store.path_of(id);
  auto length = length_of(f.fd);
  if (length < 0)
    return os_error("cannot stat", path);
  return find_header(id, static_cast<uint64_t>(length), reads_of(f.fd, id, path));
}

caf::error changed_while_read(const content_id& id) {
  return make_error(ec::corrupt_blob,
                    "blob " + id.to_hex() + ": the file changed length while it was read");
}

} // namespace

/// The blobs folder, opened once so that opening a blob walks two path
/// components rather than the whole root, and the kept mappings.
struct blob_store::shared_state {
  std::mutex mtx;
  std::atomic<int> dir_fd{-1};
  blob_map_cache maps;
  explicit shared_state(std::string blobs_dir)
      : maps(default_map_cache_bytes, std::move(blobs_dir)) {
    // nop
  }
  ~shared_state() {
    if (dir_fd >= 0)
      ::close(dir_fd);
  }
};

blob_store::blob_store(std::string root)
    : root_(std::move(root)), shared_(std::make_shared<shared_state>(root_ + "/blobs")) {
  // nop
}

blob_map_cache& blob_store::mappings() const {
  return shared_->maps;
}

int blob_store::blobs_dir() const {
  int dir = shared_->dir_fd.load(std::memory_order_acquire);
  if (dir >= 0)
    return dir;
  // Until the folder exists (an empty store), every open takes the full path.
  std::lock_guard<std::mutex> guard{shared_->mtx};
  dir = shared_->dir_fd.load(std::memory_order_relaxed);
  if (dir < 0 && (dir = ::open((root_ + "/blobs").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0)
    shared_->dir_fd.store(dir, std::memory_order_release);
  return dir;
}

namespace {

/// "<2 hex>/<32 hex>.blob", as path_of names a blob below the blobs folder.
struct relative_path {
  char text[2 + 1 + 32 + 5 + 1];
  explicit relative_path(const content_id& id) {
    id.write_hex(text + 3);
    text[0] = text[3];
    text[1] = text[4];
    text[2] = '/';
    std::memcpy(text + 35, ".blob", 6);
  }
};

} // namespace

int blob_store::open_file(const content_id& id) const {
  int dir = blobs_dir();
  int fd = dir >= 0 ? ::openat(dir, relative_path{id}.text, O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) // no folder handle, or the folder was replaced since it was opened
    fd = ::open(path_of(id).c_str(), O_RDONLY | O_CLOEXEC);
  return fd;
}

bool blob_store::stat_file(const content_id& id, struct stat& st) const {
  int dir = blobs_dir();
  if (dir >= 0 && ::fstatat(dir, relative_path{id}.text, &st, 0) == 0)
    return true;
  return ::stat(path_of(id).c_str(), &st) == 0;
}

blob_map_cache::stat_fn blob_store::stat_now(const content_id& id) const {
  return [this, &id](struct stat& st) { return stat_file(id, st); };
}

std::string blob_store::path_of(const content_id& id) const {
  auto hex = id.to_hex();
  return root_ + "/blobs/" + hex.substr(0, 2) + "/" + hex + ".blob";
}

caf::expected<content_id> blob_store::put(const tensor_spec& spec, const void* data,
                                          const write_progress& progress) const {
  if (auto err = check_storable(spec))
    return err;
  blob_header h{blob_id_of(spec, data, spec.bytes()), spec, spec.bytes()};
  auto path = path_of(h.id);
  if (contains(h.id))
    return h.id;
  std::error_code fs_err;
  fs::create_directories(fs::path{path}.parent_path(), fs_err);
  if (fs_err)
    return make_error(ec::io_error, "cannot create " + fs::path{path}.parent_path().string()
                                      + ": " + fs_err.message());
  auto fields = encode_blob_fields(h);
  auto err = write_file_atomically(
      root_ + "/tmp", path, {{data, h.data_bytes}, {fields.data(), fields.size()}}, progress);
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
  f.fd = open_file(id);
  return check_opened(*this, id, f);
}

caf::expected<tensor_buffer> blob_store::read(const content_id& id, read_method method,
                                              bool verify) const {
  blob_fd f;
  f.fd = open_file(id);
  auto h = check_opened(*this, id, f);
  if (!h)
    return h.error();
  tensor_buffer t;
  t.spec = h->spec;
  t.bytes = h->data_bytes;
  if (method == read_method::map) {
    size_t len = h->file_bytes();
    // Read-only: populating a writable private mapping would copy every page.
    // Verification touches every page anyway, so it maps without populating.
    int flags = MAP_PRIVATE | (verify ? 0 : MAP_POPULATE);
    void* base = ::mmap(nullptr, len, PROT_READ, flags, f.fd, 0);
    if (base == MAP_FAILED)
      return os_error("cannot map", path_of(id));
    t.owner = std::shared_ptr<const void>(base, [len](const void* p) {
      ::munmap(const_cast<void*>(p), len);
    });
    t.data = static_cast<const std::byte*>(base) + h->data_offset();
  } else {
    std::byte* dst = nullptr;
    t = tensor_buffer::allocate(h->spec, &dst);
    if (auto err =
            read_exact(f.fd, dst, h->data_bytes, static_cast<off_t>(h->data_offset()), path_of(id)))
      return err;
  }
  if (verify)
    if (auto err = check_hash(*h, t.data))
      return err;
  return t;
}

blob_file::blob_file(blob_file&& other) noexcept
  : fd_(other.fd_), map_(std::move(other.map_)), header_(std::move(other.header_)),
    path_(std::move(other.path_)) {
  other.fd_ = -1;
}

blob_file& blob_file::operator=(blob_file&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = other.fd_;
    map_ = std::move(other.map_);
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
  if (mapped()) { // the mapping covers this file version whole: data and fields
    const std::byte* src = map_.base.get() + header_.data_offset() + data_offset;
    if (!copy_guarded([&] { std::memcpy(dst, src, bytes); }))
      return make_error(ec::corrupt_blob, path_ + ": " + unreadable_mapping_text);
    return {};
  }
  return read_exact(fd_, dst, bytes, static_cast<off_t>(header_.data_offset() + data_offset),
                    path_);
}

void blob_file::advise_sequential() const {
  if (fd_ >= 0)
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
}

caf::expected<blob_header> blob_store::read_into(const content_id& id, std::byte* dst,
                                                 uint64_t data_bytes, bool verify) const {
  // A kept mapping serves the read if it maps the file that is there now.
  if (shared_->maps.capacity() > 0)
    if (auto m = shared_->maps.find(id, stat_now(id)))
      return copy_mapped(id, *m, dst, data_bytes, verify);
  blob_fd f;
  f.fd = open_file(id);
  if (f.fd < 0) {
    if (errno != ENOENT)
      return os_error("cannot open", path_of(id));
    shared_->maps.forget(id);
    return unknown(id);
  }
  if (data_bytes > read_chunk_bytes)
    ::posix_fadvise(f.fd, 0, 0, POSIX_FADV_SEQUENTIAL); // larger readahead when cold
  auto path = path_of(id);
  auto length = length_of(f.fd);
  if (length < 0)
    return os_error("cannot stat", path);
  auto format = blob_format_of(static_cast<uint64_t>(length), data_bytes);
  if (!format) { // not the length the caller expects: say what the file holds
    auto found = find_header(id, static_cast<uint64_t>(length), reads_of(f.fd, id, path));
    if (!found)
      return found.error();
    return size_error(id, found->data_bytes, found->data_bytes > data_bytes, data_bytes,
                      found->data_bytes);
  }
  blob_header where;
  where.format = *format;
  where.data_bytes = data_bytes;
  // The fields are read first where the hash needs the spec before the data
  // (more than one chunk) or where they come first (format 1); otherwise a
  // trailer comes in with the data, in the same read.
  blob_fields fields;
  std::optional<blob_header> h;
  std::optional<blob_hasher> hasher;
  auto check_fields = [&]() -> caf::error {
    auto checked = check_header(id, fields.data(), data_bytes, data_bytes, data_bytes);
    if (!checked)
      return checked.error();
    h = std::move(*checked);
    if (verify && data_bytes > read_chunk_bytes)
      hasher.emplace(h->spec);
    return {};
  };
  if (where.format == blob_format_header_page || data_bytes > read_chunk_bytes) {
    if (auto err = reads_of(f.fd, id, path)(fields.data(), fields.size(), where.fields_offset()))
      return err;
    if (auto err = check_fields())
      return err;
  }
  bool trailer = where.format == blob_format_trailer;
  blob_fields again; // a trailer read past with the last chunk
  std::byte past_end{};
  uint64_t offset = 0;
  do {
    auto n = std::min(read_chunk_bytes, data_bytes - offset);
    bool last = offset + n == data_bytes;
    iovec parts[3] = {{dst + offset, n}};
    int count = 1;
    uint64_t want = n;
    if (last && trailer) {
      parts[count++] = {h ? again.data() : fields.data(), fields.size()};
      want += fields.size();
    }
    if (last)
      parts[count++] = {&past_end, 1};
    auto got = read_parts(f.fd, parts, count, static_cast<off_t>(where.data_offset() + offset));
    if (got < 0)
      return os_error("cannot read", path);
    if (static_cast<uint64_t>(got) != want)
      return changed_while_read(id);
    if (hasher)
      hasher->update(dst + offset, n);
    offset += n;
  } while (offset < data_bytes);
  if (!h) {
    if (auto err = check_fields())
      return err;
    if (verify)
      if (auto err = check_hash(*h, dst))
        return err;
  }
  if (hasher && hasher->digest() != id)
    return hash_error(id, hasher->digest());
  // The pages are cached now: the next read copies from a mapping.
  shared_->maps.keep(id, f.fd, stat_now(id));
  return std::move(*h);
}

void blob_store::advise_reading(const content_id& id, uint64_t data_bytes) const {
  if (shared_->maps.holds(id))
    return;
  int fd = open_file(id);
  if (fd < 0)
    return;
  // Data and fields, in either format (past the end of the file is no harm).
  ::posix_fadvise(fd, 0, static_cast<off_t>(data_bytes + blob_header_page_bytes),
                  POSIX_FADV_WILLNEED);
  ::close(fd);
}

caf::expected<blob_header> blob_store::mapped_header(const content_id& id,
                                                     const blob_map_cache::mapping& m,
                                                     std::optional<uint64_t> data_bytes) const {
  // The kept mapping is of this very file version, whose whole length it
  // covers. Every touch of it is guarded: the file may have been truncated
  // since it was checked, or a page evicted since may fail to read again.
  auto h = find_header(id, m.file_bytes,
                       [&](std::byte* dst, size_t bytes, uint64_t offset) -> caf::error {
                         if (!copy_guarded([&] { std::memcpy(dst, m.base.get() + offset, bytes); }))
                           return unreadable_mapping(id);
                         return {};
                       });
  if (!h) {
    shared_->maps.forget(id);
    return h.error();
  }
  if (data_bytes && *data_bytes != h->data_bytes)
    return size_error(id, h->data_bytes, h->data_bytes > *data_bytes, *data_bytes, h->data_bytes);
  return h;
}

caf::expected<blob_header> blob_store::copy_mapped(const content_id& id,
                                                   const blob_map_cache::mapping& m, std::byte* dst,
                                                   uint64_t data_bytes, bool verify) const {
  // The kept mapping is of this very file version, whose whole length it
  // covers: nothing is read past its end.
  auto h = mapped_header(id, m, data_bytes);
  if (!h)
    return h.error();
  const std::byte* src = m.base.get() + h->data_offset();
  std::optional<blob_hasher> hasher;
  if (verify)
    hasher.emplace(h->spec);
  blob_hasher* hashing = hasher ? &*hasher : nullptr;
  // A chunk at a time: copied with stores that go around the cache (a plain
  // copy reads every destination line before writing it, a third of the
  // memory traffic), then hashed from the source while the copy's loads
  // left it in the core's cache. The hash reads each byte after the copy
  // did, so a change to the file that the copy saw is seen by the hash too
  // and fails the check; only a change undone within those microseconds
  // could pass (decision 39).
  bool copied = copy_guarded([&] {
    for (uint64_t offset = 0; offset < data_bytes; offset += copy_chunk_bytes) {
      auto n = std::min(copy_chunk_bytes, data_bytes - offset);
      stream_copy(dst + offset, src + offset, n);
      if (hashing != nullptr) {
        // The hash's loads must not be reordered before the copy's (a weakly
        // ordered CPU could); on x86-64 this only holds back the compiler.
        std::atomic_thread_fence(std::memory_order_acquire);
        hashing->update(src + offset, n);
      }
    }
  });
  if (!copied) {
    shared_->maps.forget(id);
    return unreadable_mapping(id);
  }
  if (hasher && hasher->digest() != id) {
    shared_->maps.forget(id);
    return hash_error(id, hasher->digest());
  }
  return h;
}

caf::expected<blob_file> blob_store::open(const content_id& id) const {
  if (shared_->maps.capacity() > 0)
    if (auto m = shared_->maps.find(id, stat_now(id))) {
      // The mapping is of the file as it is now: the header must agree with
      // its length.
      auto h = mapped_header(id, *m, std::nullopt);
      if (!h)
        return h.error();
      blob_file out;
      out.map_ = std::move(*m);
      out.header_ = std::move(*h);
      out.path_ = path_of(id);
      return out;
    }
  blob_fd f;
  f.fd = open_file(id);
  auto h = check_opened(*this, id, f);
  if (!h)
    return h.error();
  blob_file out;
  out.fd_ = f.fd;
  f.fd = -1;
  out.header_ = std::move(*h);
  out.path_ = path_of(id);
  return out;
}

void blob_store::keep_mapped(const content_id& id, const blob_file& f) const {
  if (f.fd_ >= 0)
    shared_->maps.keep(id, f.fd_, stat_now(id));
}

caf::error blob_store::verify(const content_id& id) const {
  auto t = read(id, read_method::map, true);
  return t ? caf::error{} : t.error();
}

} // namespace tessera::store
