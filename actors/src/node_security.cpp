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

std::string open_bind_warning(const node_config& cfg) {
  if (!cfg.curve_secret_key_file.empty() || cfg.listen.rfind("tcp://", 0) != 0)
    return {};
  auto host = cfg.listen.substr(6, cfg.listen.rfind(':') - 6);
  if (host.rfind("127.", 0) == 0 || host == "localhost" || host == "[::1]" || host == "::1")
    return {};
  return "warning: listening on " + cfg.listen +
         " without CURVE: any client that reaches this address "
         "may call every operation (set curve_secret_key_file and curve_allow; see `tessera keys`)";
}

} // namespace tessera::actors
