// What the benchmarks that drive a real node share: a one-image request for a
// model, and a node started with its models loaded (warm), so that a
// measurement sees serving, not loading.
#pragma once

#include "tessera/actors/node.hpp"
#include "tessera/core/manifest.hpp"
#include "tessera/transport/requests.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <vector>

namespace tessera::bench {

/// An inference request for `m`: one random image (batch 1) on its first input.
transport::infer_request image_request(const model_manifest& m, uint64_t seed);

/// Starts a node and runs `rounds` requests of each model through it.
caf::expected<std::unique_ptr<actors::node>>
start_warm_node(const node_config& cfg, const std::vector<model_manifest>& models, int rounds);

} // namespace tessera::bench
