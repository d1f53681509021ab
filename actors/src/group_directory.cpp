#include "group_directory.hpp"

#include <algorithm>
#include <chrono>

namespace tessera::actors {

namespace fs = std::filesystem;

group_directory::group_directory(std::string store_root)
    : store_(store_root), folder_(store_root + "/groups") {
  // nop
}

bool group_directory::refresh() {
  std::error_code ec;
  auto stamp = fs::last_write_time(folder_, ec);
  bool present = !ec;
  // Time stamps are coarse (a kernel tick), so a folder changed within the
  // last second may change again under the same stamp: read it again then.
  bool settled = !present || fs::file_time_type::clock::now() - stamp > std::chrono::seconds(1);
  if (present == present_ && (!present || stamp == stamp_) && settled)
    return false;
  present_ = present;
  stamp_ = present ? stamp : fs::file_time_type{};
  auto defs = present ? store_.list() : std::vector<group_definition>{};
  bool changed = defs.size() != defs_.size()
                 || !std::equal(defs.begin(), defs.end(), defs_.begin(), [](const auto& a, const auto& b) {
                      return a.name == b.name && a.models == b.models && to_json_text(a) == to_json_text(b);
                    });
  defs_ = std::move(defs);
  return changed;
}

const group_definition* group_directory::find(const std::string& name) const {
  for (const auto& d : defs_)
    if (d.name == name)
      return &d;
  return nullptr;
}

const group_definition* group_directory::containing(const std::string& ref) const {
  for (const auto& d : defs_)
    if (std::find(d.models.begin(), d.models.end(), ref) != d.models.end())
      return &d;
  return nullptr;
}

} // namespace tessera::actors
