#include "tessera/store/skeleton_store.hpp"

#include "tessera/core/error.hpp"
#include "tessera/store/atomic_file.hpp"

#include <filesystem>

namespace tessera::store {

namespace fs = std::filesystem;

const char* to_string(skeleton_kind kind) {
  return kind == skeleton_kind::script ? "script" : "module";
}

skeleton_store::skeleton_store(std::string root) : root_(std::move(root)) {
  // nop
}

std::string skeleton_store::path_of(const content_id& id, skeleton_kind kind) const {
  return root_ + "/skeletons/" + id.to_hex() + "." + to_string(kind);
}

caf::expected<content_id> skeleton_store::put(skeleton_kind kind,
                                              std::string_view bytes) const {
  auto id = skeleton_id_of(to_string(kind), bytes);
  auto path = path_of(id, kind);
  std::error_code ec;
  if (fs::exists(path, ec))
    return id;
  fs::create_directories(root_ + "/skeletons", ec);
  if (auto err = write_file_atomically(root_ + "/tmp", path, {{bytes.data(), bytes.size()}}))
    return err;
  return id;
}

bool skeleton_store::contains(const content_id& id) const {
  std::error_code ec;
  return fs::exists(path_of(id, skeleton_kind::script), ec)
         || fs::exists(path_of(id, skeleton_kind::module), ec);
}

std::vector<content_id> skeleton_store::list() const {
  std::vector<content_id> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{root_ + "/skeletons", ec}) {
    auto ext = entry.path().extension().string();
    if (!entry.is_regular_file(ec) || (ext != ".script" && ext != ".module"))
      continue;
    if (auto id = parse_content_id(entry.path().stem().string()))
      out.push_back(*id);
  }
  return out;
}

caf::error skeleton_store::remove(const content_id& id) const {
  for (auto kind : {skeleton_kind::script, skeleton_kind::module}) {
    std::error_code ec;
    fs::remove(path_of(id, kind), ec);
    if (ec)
      return make_error(ec::io_error,
                        "cannot remove skeleton " + id.to_hex() + ": " + ec.message());
  }
  return {};
}

caf::expected<skeleton_source> skeleton_store::get(const content_id& id) const {
  for (auto kind : {skeleton_kind::script, skeleton_kind::module}) {
    auto path = path_of(id, kind);
    std::error_code ec;
    if (!fs::exists(path, ec))
      continue;
    skeleton_source src{id, kind, {}};
    if (auto err = read_whole_file(path, src.bytes))
      return err;
    if (skeleton_id_of(to_string(kind), src.bytes) != id)
      return make_error(ec::corrupt_blob,
                        "skeleton " + id.to_hex() + " does not hash to its id (the file is corrupt)");
    return src;
  }
  return make_error(ec::unknown_skeleton, "skeleton " + id.to_hex() + " is not in the store");
}

} // namespace tessera::store
