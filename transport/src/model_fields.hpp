// Internal: the `model_name` + optional `model_version` pair that most operations
// carry, read and written in one place for requests and responses alike.
#pragma once

#include "wire_fields.hpp"
#include "wire_writer.hpp"

#include <optional>
#include <string>

namespace tessera::transport::detail {

/// Number of map entries write_model() packs.
inline size_t model_entries(const std::optional<int64_t>& version) {
  return version ? 2 : 1;
}

/// Packs model_name and, when set, model_version.
inline void write_model(encode_state& st, const std::string& name,
                        const std::optional<int64_t>& version) {
  st.field("model_name", name);
  if (version)
    st.field("model_version", *version);
}

/// Reads a required, non-empty model_name and an optional positive model_version.
inline bool read_model(const field_map& fields, std::string& name,
                       std::optional<int64_t>& version) {
  if (!required_name(fields, "model_name", name) || !fields.optional("model_version", version))
    return false;
  if (version && *version < 1)
    return fields.state().fail(ec::invalid_argument, fields.path_of("model_version") + ": " +
                                                         std::to_string(*version) +
                                                         " is not a version (versions start at 1)");
  return true;
}

} // namespace tessera::transport::detail
