// Reading and writing model manifests as JSON (docs/model-format.md).
// Parse errors name the model and the JSON path of the bad field.
#pragma once

#include "tessera/core/manifest.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace tessera {

/// The format tag every manifest carries in its "format" field.
constexpr const char* manifest_format = "tessera.model/1";

/// Parses a manifest. Only structure is checked here; call validate_manifest()
/// (model_graph.hpp) for the graph rules.
caf::expected<model_manifest> parse_manifest(std::string_view json_text);

/// Serialises a manifest with stable field order, two-space indented.
std::string to_json_text(const model_manifest& m);

} // namespace tessera
