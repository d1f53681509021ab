#include "node_security.hpp"

#include "tessera/core/error.hpp"
#include "tessera/transport/curve.hpp"

namespace tessera::actors {

namespace {

caf::expected<transport::curve_keypair> own_keys(const node_config& cfg) {
  auto secret = transport::read_curve_key_file(cfg.curve_secret_key_file);
  if (!secret)
    return wrap(secret.error(), "curve_secret_key_file");
  auto pub = transport::curve_public_key(*secret);
  if (!pub)
    return wrap(pub.error(), "curve_secret_key_file");
  return transport::curve_keypair{*pub, *secret};
}

} // namespace

caf::error apply_curve(const node_config& cfg, gateway_options& opts) {
  if (cfg.curve_secret_key_file.empty())
    return {};
  auto keys = own_keys(cfg);
  if (!keys)
    return keys.error();
  opts.curve.secret_key = keys->secret_key;
  opts.curve_allow.insert(keys->public_key);
  for (const auto& k : cfg.curve_allow) {
    if (k != "*") {
      auto key = transport::resolve_curve_key(k);
      if (!key)
        return wrap(key.error(), "curve_allow");
      opts.curve_allow.insert(*key);
    } else {
      opts.curve_allow.insert(k);
    }
  }
  return {};
}

caf::expected<bridge_options> bridge_options_for(const node_config& cfg) {
  bridge_options opts;
  if (cfg.curve_peer_keys.empty())
    return opts;
  auto keys = own_keys(cfg);
  if (!keys)
    return keys.error();
  opts.curve_own = *keys;
  for (const auto& k : cfg.curve_peer_keys) {
    auto key = transport::resolve_curve_key(k);
    if (!key)
      return wrap(key.error(), "curve_peer_keys");
    opts.curve_peer_keys.push_back(*key);
  }
  return opts;
}

} // namespace tessera::actors
