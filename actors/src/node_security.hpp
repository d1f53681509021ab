// How a node's CURVE settings become socket settings: the gateway's server key
// and allow-list, and the bridge's client keys for each peer.
#pragma once

#include "tessera/actors/bridge.hpp"
#include "tessera/actors/gateway.hpp"
#include "tessera/core/node_config.hpp"

namespace tessera::actors {

/// Sets the gateway's CURVE keys and allow-list from `cfg` (nothing without a
/// secret key file). The node's own public key is always admitted.
caf::error apply_curve(const node_config& cfg, gateway_options& opts);

/// A warning for the log when the node listens beyond loopback without CURVE
/// (any client that reaches the address may then call every operation);
/// empty otherwise.
std::string open_bind_warning(const node_config& cfg);

/// The bridge's options: with CURVE, the node's key pair and each peer's key.
caf::expected<bridge_options> bridge_options_for(const node_config& cfg);

} // namespace tessera::actors
