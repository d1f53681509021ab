// Prints a running node's server_status reply (`tessera call status`,
// `tessera status --endpoint`): uptime and requests, nodes, devices, the
// executors it schedules onto, and a table of what its executors' streamed
// runs did (models too large to hold, run block by block; docs/swapping.md).
#pragma once

#include "tessera/transport/responses.hpp"

#include <nlohmann/json_fwd.hpp>

#include <vector>

namespace tessera::cli {

void print_node_status(const transport::server_status_response& r);

/// The stream figures as a table, one column per executor that streamed;
/// prints nothing when none did.
void print_stream_table(const std::vector<transport::executor_entry>& executors);

/// The reply as one JSON object, with the per-block averages of the stream
/// figures computed beside their totals.
nlohmann::json node_status_json(const transport::server_status_response& r);

} // namespace tessera::cli
