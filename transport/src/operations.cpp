#include "tessera/transport/operation.hpp"

#include "tessera/core/error.hpp"

#include <array>
#include <string>

namespace tessera::transport {

namespace {

constexpr std::array<const char*, operation_count> operation_names{{
    "infer",
    "model_load",
    "model_unload",
    "model_ready",
    "fuse",
    "repository_index",
    "server_status",
    "health",
    "metadata",
    "fetch_blob",
    "fetch_skeleton",
    "fetch_manifest",
}};

} // namespace

const char* to_string(operation op) {
  auto i = static_cast<size_t>(op);
  return i < operation_names.size() ? operation_names[i] : "unknown";
}

caf::expected<operation> parse_operation(std::string_view name) {
  for (size_t i = 0; i < operation_names.size(); ++i)
    if (name == operation_names[i])
      return static_cast<operation>(i);
  std::string all;
  for (const auto* n : operation_names)
    all += all.empty() ? n : std::string{", "} + n;
  return make_error(ec::unknown_operation,
                    "op: unknown operation \"" + std::string{name} + "\" (expected " + all + ")");
}

} // namespace tessera::transport
