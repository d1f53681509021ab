// Prints the tiers of a residency manager the way `tessera status` and
// `tessera demo` show them: store, host and device totals that add up, the
// resident models, and optionally every resident blob.
#pragma once

#include "tessera/residency/residency_stats.hpp"

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <vector>

namespace tessera::cli {

void print_tiers(const residency::residency_stats& s,
                 const std::optional<residency::store_tier_stats>& store);

void print_blobs(const std::vector<residency::blob_residency>& blobs);

nlohmann::json tiers_json(const residency::residency_stats& s,
                          const std::optional<residency::store_tier_stats>& store);

} // namespace tessera::cli
