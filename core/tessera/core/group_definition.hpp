// A fused group as an operator defines it (`tessera fuse NAME MODEL...`): its
// name, its members and any explicit input bindings, with the JSON form the
// store keeps under <store>/groups/NAME.json. The plan is derived, never stored.
#pragma once

#include "tessera/core/fusion_plan.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tessera {

/// The format tag every group definition carries in its "format" field.
constexpr const char* group_format = "tessera.group/1";

struct group_definition {
  std::string name;
  /// "name:version" of each member, pinned when the group was defined.
  std::vector<std::string> models;
  std::vector<input_binding> bindings;
};

/// Parses a group definition; errors (ec::bad_config) name the JSON field.
caf::expected<group_definition> parse_group_definition(std::string_view json_text);

/// Serialises a definition, two-space indented, fields in a stable order.
std::string to_json_text(const group_definition& g);

} // namespace tessera
