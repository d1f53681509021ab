#include "tessera/transport/operation.hpp"

#include "tessera/core/error.hpp"
#include "tessera/transport/requests.hpp"
#include "tessera/transport/responses.hpp"

#include <array>
#include <string>
#include <type_traits>
#include <variant>

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

// Every list of operations has them all, in the enum's order.
static_assert(static_cast<size_t>(operation::fetch_manifest) + 1 == operation_count);
static_assert(operation_names.back() != nullptr, "an operation has no wire name");
static_assert(std::variant_size_v<request_body> == operation_count);
static_assert(std::variant_size_v<response_body> == operation_count);
static_assert(
    std::is_same_v<
        std::variant_alternative_t<static_cast<size_t>(operation::fetch_manifest), request_body>,
        fetch_manifest_request>);
static_assert(
    std::is_same_v<std::variant_alternative_t<static_cast<size_t>(operation::fuse), response_body>,
                   fuse_response>);

} // namespace

const char* to_string(operation op) {
  auto i = static_cast<size_t>(op);
  return i < operation_names.size() ? operation_names[i] : "unknown";
}

bool is_idempotent(operation op) {
  // Every operation is named, so that a new one must be classed here (-Wswitch).
  switch (op) {
  case operation::infer:
  case operation::model_ready:
  case operation::repository_index:
  case operation::server_status:
  case operation::health:
  case operation::metadata:
  case operation::fetch_blob:
  case operation::fetch_skeleton:
  case operation::fetch_manifest:
    return true;
  case operation::model_load:
  case operation::model_unload:
  case operation::fuse:
    return false;
  }
  return false;
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
