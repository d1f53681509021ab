// The blob files as a set: listing, removing (store gc), making them
// read-only (decision 43) and their sizes. Reading one is blob_store.cpp's.
#include "tessera/store/blob_store.hpp"

#include "blob_checks.hpp"
#include "tessera/core/error.hpp"

#include <filesystem>

#include <sys/stat.h>

namespace tessera::store {

namespace fs = std::filesystem;

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

caf::error blob_store::remove(const content_id& id) const {
  std::error_code ec;
  fs::remove(path_of(id), ec);
  if (ec)
    return make_error(ec::io_error, "cannot remove blob " + id.to_hex() + ": " + ec.message());
  return {};
}

size_t blob_store::make_read_only() const {
  size_t changed = 0;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator{root_ + "/blobs", ec}) {
    if (!entry.is_regular_file(ec) || entry.path().extension() != ".blob")
      continue;
    auto perms = entry.status(ec).permissions();
    auto writable = fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write;
    if (ec || (perms & writable) == fs::perms::none)
      continue;
    fs::permissions(entry.path(), writable, fs::perm_options::remove, ec);
    changed += ec ? 0 : 1;
  }
  return changed;
}

caf::expected<size_t> blob_store::file_bytes(const content_id& id) const {
  struct stat st {};
  if (::stat(path_of(id).c_str(), &st) != 0)
    return unknown(id);
  return static_cast<size_t>(st.st_size);
}

} // namespace tessera::store
