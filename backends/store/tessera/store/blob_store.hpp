// Content-addressed tensor blobs on disk, under <store>/blobs/<2 hex>/<id>.blob.
// Writes are atomic and deduplicated by id; reads either map the file and use it
// in place or copy it into owned memory, and both verify the bytes against the
// id unless told not to, so a corrupt blob is never silently used.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/core/tensor_buffer.hpp"
#include "tessera/store/atomic_file.hpp"
#include "tessera/store/blob_format.hpp"
#include "tessera/store/blob_map_cache.hpp"

#include <caf/expected.hpp>

#include <sys/stat.h>

#include <memory>
#include <optional>

#include <string>
#include <vector>

namespace tessera::store {

/// How a read brings bytes into memory.
enum class read_method {
  map,  ///< mmap the file; the tensor views the page cache (no copy)
  copy, ///< pread into an owned, aligned buffer
};

/// An open blob file whose header was checked; closes on destruction. It lets
/// a loader read the data in chunks into its own buffers (staging, device).
/// When the store keeps a mapping of the file as it is now (decision 34), the
/// reads copy from that mapping and no file is opened.
class blob_file {
public:
  blob_file() = default;
  blob_file(blob_file&& other) noexcept;
  blob_file& operator=(blob_file&& other) noexcept;
  ~blob_file();

  const blob_header& header() const {
    return header_;
  }

  /// Reads `bytes` of tensor data starting at `data_offset` into `dst`.
  caf::error read_data(void* dst, size_t bytes, uint64_t data_offset) const;

  /// Tells the kernel the data will be read once, front to back (readahead).
  void advise_sequential() const;

  /// True when the reads copy from a kept mapping.
  bool mapped() const {
    return map_.base != nullptr;
  }

private:
  friend class blob_store;
  int fd_ = -1;
  blob_map_cache::mapping map_;
  blob_header header_;
  std::string path_;
};

class blob_store {
public:
  /// `root` is the store's top folder; blobs live in root/blobs, temporaries in root/tmp.
  explicit blob_store(std::string root);

  /// Hashes and stores a tensor. Storing a blob that exists is a cheap no-op.
  caf::expected<content_id> put(const tensor_spec& spec, const void* data,
                                const write_progress& progress = {}) const;

  /// Writes a good copy of a blob whose file is damaged over that file, in
  /// place: the same file, so a mapping of it (a model using the blob in
  /// place) sees the good bytes, and the folder's watch reports the change.
  /// The file is the one of the id the bytes hash to; without one, it is
  /// put(). The file is read-only (0444) again after the write.
  caf::expected<content_id> restore(const tensor_spec& spec, const void* data) const;

  bool contains(const content_id& id) const;

  /// Reads only the blob's fields (format 2's trailer, format 1's header page).
  caf::expected<blob_header> header(const content_id& id) const;

  /// Brings a blob into memory. With `verify`, its bytes are re-hashed and a
  /// mismatch is an ec::corrupt_blob error naming the blob.
  caf::expected<tensor_buffer> read(const content_id& id, read_method method,
                                    bool verify = true) const;

  /// Reads a whole blob whose size the caller knows (from its manifest) into
  /// `dst`. The first read of a blob is a pread: a blob of one chunk (512
  /// KiB) and its trailer in one system call; a larger one's trailer first,
  /// then its data in chunks; the fields and the data past them read past
  /// the end by one byte to prove the file is not longer. The file is
  /// mapped after that read, and later reads of it copy from the kept mapping
  /// (decision 34). With `verify`, each chunk is hashed while it is in cache.
  /// Returns the header. The loader's path for a host-addressable
  /// destination, small or large.
  caf::expected<blob_header> read_into(const content_id& id, std::byte* dst, uint64_t data_bytes,
                                       bool verify) const;

  /// Asks the kernel to start reading a blob's fields and first `data_bytes`
  /// into the page cache (POSIX_FADV_WILLNEED) and returns at once, unless a
  /// kept mapping holds the blob. A hint: a blob that cannot be opened is
  /// left to its read to report.
  void advise_reading(const content_id& id, uint64_t data_bytes) const;

  /// The mappings read_into keeps, shared by every copy of this store.
  blob_map_cache& mappings() const;

  /// Opens a blob for chunked reads, checking its header and size: from a
  /// kept mapping of the file as it is now, else the file itself.
  caf::expected<blob_file> open(const content_id& id) const;

  /// Keeps a mapping of a file opened with open() and read whole without
  /// error, so the next open() of the blob copies from memory (decision 34).
  void keep_mapped(const content_id& id, const blob_file& f) const;

  /// Re-hashes one blob on disk.
  caf::error verify(const content_id& id) const;

  /// Every blob id on disk, in no particular order.
  std::vector<content_id> list() const;

  /// Deletes a blob's file (store gc): a mapping of it stays valid until
  /// unmapped, as the kernel keeps an unlinked file's pages.
  caf::error remove(const content_id& id) const;

  /// Makes blob files that a store written before decision 43 left writable
  /// read-only (0444); returns how many it changed.
  size_t make_read_only() const;

  /// Bytes the file of a blob occupies (its fields included).
  caf::expected<size_t> file_bytes(const content_id& id) const;

  std::string path_of(const content_id& id) const;

  const std::string& root() const {
    return root_;
  }

private:
  struct shared_state;
  /// Opens a blob's file read-only, relative to the blobs folder's handle
  /// (a short path walk); -1 with errno set when it cannot.
  int open_file(const content_id& id) const;
  /// stat() of a blob's file; false when there is none.
  bool stat_file(const content_id& id, struct stat& st) const;
  /// stat_file for the kept mappings, which call it only where they must.
  blob_map_cache::stat_fn stat_now(const content_id& id) const;
  /// The blobs folder's handle, opened on first use; -1 while there is none.
  int blobs_dir() const;
  /// Checks the header of a kept mapping against the mapping's length and
  /// `data_bytes` (the mapping's own data length when empty).
  caf::expected<blob_header> mapped_header(const content_id& id, const blob_map_cache::mapping& m,
                                           std::optional<uint64_t> data_bytes) const;
  caf::expected<blob_header> copy_mapped(const content_id& id, const blob_map_cache::mapping& m,
                                         std::byte* dst, uint64_t data_bytes, bool verify) const;

  std::string root_;
  std::shared_ptr<shared_state> shared_; ///< shared by copies of this store
};

} // namespace tessera::store
