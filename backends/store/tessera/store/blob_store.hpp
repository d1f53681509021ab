// Content-addressed tensor blobs on disk, under <store>/blobs/<2 hex>/<id>.blob.
// Writes are atomic and deduplicated by id; reads either map the file and use it
// in place or copy it into owned memory, and both verify the bytes against the
// id unless told not to, so a corrupt blob is never silently used.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/core/tensor_buffer.hpp"
#include "tessera/store/atomic_file.hpp"
#include "tessera/store/blob_format.hpp"

#include <caf/expected.hpp>

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

private:
  friend class blob_store;
  int fd_ = -1;
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

  bool contains(const content_id& id) const;

  /// Reads only the header page.
  caf::expected<blob_header> header(const content_id& id) const;

  /// Brings a blob into memory. With `verify`, its bytes are re-hashed and a
  /// mismatch is an ec::corrupt_blob error naming the blob.
  caf::expected<tensor_buffer> read(const content_id& id, read_method method,
                                    bool verify = true) const;

  /// Reads a small blob whose size the caller knows (from its manifest) in one
  /// system call: header into a local page, data straight into `dst`, one
  /// byte past the end to prove the file is not longer. Returns the header;
  /// with `verify`, the bytes are hashed too. Worth it below ~64 KiB, where
  /// mapping a blob costs more than copying it.
  caf::expected<blob_header> read_small(const content_id& id, void* dst, uint64_t data_bytes,
                                        bool verify) const;

  /// Opens a blob for chunked reads, checking its header and size.
  caf::expected<blob_file> open(const content_id& id) const;

  /// Re-hashes one blob on disk.
  caf::error verify(const content_id& id) const;

  /// Every blob id on disk, in no particular order.
  std::vector<content_id> list() const;

  /// Bytes the file of a blob occupies (header page included).
  caf::expected<size_t> file_bytes(const content_id& id) const;

  std::string path_of(const content_id& id) const;

  const std::string& root() const {
    return root_;
  }

private:
  std::string root_;
};

} // namespace tessera::store
