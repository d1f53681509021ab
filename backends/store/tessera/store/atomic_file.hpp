// Crash-safe file writes for the store: data goes to a temporary file in the
// store's tmp/ folder, is flushed, and is renamed onto its real name, so a reader
// sees either nothing or the whole file. Temporary files of dead writers are
// removed when a store opens.
#pragma once

#include <caf/error.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace tessera::store {

/// Called after each chunk with the bytes written so far and the total.
using write_progress = std::function<void(size_t written, size_t total)>;

/// One contiguous piece of the file's contents.
struct write_piece {
  const void* data;
  size_t bytes;
};

/// Writes `pieces` to `final_path` atomically through a temporary file in
/// `tmp_dir`. An existing file at `final_path` is replaced.
caf::error write_file_atomically(const std::string& tmp_dir,
                                 const std::string& final_path,
                                 const std::vector<write_piece>& pieces,
                                 const write_progress& progress = {});

/// Removes temporary files in `tmp_dir` whose writing process has died.
/// Returns how many it removed.
size_t remove_stale_temporaries(const std::string& tmp_dir);

/// Reads a whole (small) file into a string.
caf::error read_whole_file(const std::string& path, std::string& out);

} // namespace tessera::store
