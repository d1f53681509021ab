// How blob_store reads a blob file and checks what it read: reads that go on
// until the bytes asked for are in, the header and hash checks, and the
// errors they give, each naming the blob and what was wrong with it.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/store/blob_format.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include <sys/types.h>
#include <sys/uio.h>

namespace tessera::store {

/// Where a read from a kept mapping failed under the SIGBUS guard.
inline constexpr const char* unreadable_mapping_text =
    "the kept mapping of the file could not be read (the file was truncated, or the disk failed)";

/// `what` failed on `path`, with errno's text.
caf::error os_error(const std::string& what, const std::string& path);
/// Writes all `bytes` at `offset` of `fd` (pwrite, retried on EINTR).
caf::error write_at(int fd, const std::string& path, const std::byte* data, size_t bytes,
                    off_t offset);
/// Refuses a tensor a blob file cannot hold: a non-concrete type, or a rank
/// beyond blob_max_rank.
caf::error check_storable(const tensor_spec& spec);
caf::error unknown(const content_id& id);
caf::error unreadable_mapping(const content_id& id);
caf::error truncated(const content_id& id);
caf::error names_other_blob(const content_id& id, const content_id& named);
/// The file held `got` data bytes (`more`: at least that many) where the
/// read expected `expected` and the header declared `header_says`.
caf::error size_error(const content_id& id, uint64_t got, bool more, uint64_t expected,
                      uint64_t header_says);
caf::error hash_error(const content_id& id, const content_id& actual);

/// Reads into `parts` from `offset` until they are full or the file ends;
/// the bytes read, or -1 with errno set.
ssize_t read_parts(int fd, iovec* parts, int count, off_t offset);

/// Reads exactly `bytes` from `offset`; a short file is ec::corrupt_blob.
caf::error read_exact(int fd, void* dst, size_t bytes, off_t offset, const std::string& path);

/// Checks a blob's fields against its id and its declared size, and the
/// data bytes found (`data_got`) against those the read expected.
caf::expected<blob_header> check_header(const content_id& id, const std::byte* fields,
                                        uint64_t data_got, uint64_t data_expected,
                                        uint64_t data_bytes);

/// Reads `bytes` at `offset` of one blob file into `dst`.
using read_at_fn = std::function<caf::error(std::byte* dst, size_t bytes, uint64_t offset)>;

/// Finds and checks the fields of a blob file of `file_bytes` meant to hold
/// `id`: format 2's trailer, else format 1's header page. The length they
/// declare must be the file's.
caf::expected<blob_header> find_header(const content_id& id, uint64_t file_bytes,
                                       const read_at_fn& read_at);

/// Hashes a blob's data whole and compares it with its id.
caf::error check_hash(const blob_header& h, const std::byte* data);

} // namespace tessera::store
