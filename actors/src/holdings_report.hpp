// What a node tells the coordinator that sent it an inference about its device
// (decision 31): the free device memory and the blobs resident there, so the
// coordinator's placement scores remote executors from real figures. The blob
// list travels only when it changed since the digest the coordinator sent.
#pragma once

#include "tessera/residency/residency_manager.hpp"
#include "tessera/transport/responses.hpp"

#include <optional>

namespace tessera::actors {

/// The infer parameter by which a coordinator asks for the report: the digest
/// of the blob list it has from this node (0 when it has none).
inline constexpr const char* holdings_parameter = "holdings_since";

/// An order-independent digest of a set of blob ids (0 for the empty set).
uint64_t holdings_digest(const std::vector<content_id>& ids);

/// The report for a request with these parameters: none unless it asked.
std::optional<transport::node_holdings> holdings_for(const transport::parameter_map& params,
                                                     const residency::residency_manager& residency);

} // namespace tessera::actors
