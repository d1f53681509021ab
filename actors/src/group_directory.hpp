// The fused group definitions of a store as an executor sees them: read again
// only when <store>/groups changes (definitions are written and removed by
// renames in that folder, which change its time stamp), so looking a model's
// group up costs one stat per job. Used by the executor, which owns one.
#pragma once

#include "tessera/core/group_definition.hpp"
#include "tessera/store/group_store.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tessera::actors {

class group_directory {
public:
  explicit group_directory(std::string store_root);

  /// Reads the definitions again when the folder changed; true when they did.
  bool refresh();

  /// The definition named `name`, or null (as of the last refresh).
  const group_definition* find(const std::string& name) const;

  /// The first definition (by group name) listing `ref` ("name:version"), or null.
  const group_definition* containing(const std::string& ref) const;

private:
  store::group_store store_;
  std::string folder_;
  std::filesystem::file_time_type stamp_{};
  bool present_ = false;
  std::vector<group_definition> defs_;
};

} // namespace tessera::actors
