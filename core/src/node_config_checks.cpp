// validate_config: the checks a node's settings must pass before it starts,
// apart from the per-key parsing in node_config.cpp.
#include "tessera/core/node_config.hpp"

#include "config_text.hpp"
#include "tessera/core/error.hpp"

namespace tessera {

using namespace config_text;

caf::error validate_config(const node_config& cfg) {
  if (cfg.store_path.empty())
    return bad_field("store_path", "must not be empty");
  if (cfg.device != "cpu" && cfg.device.rfind("cuda", 0) != 0)
    return bad_field("device", "\"" + cfg.device + "\" is neither cpu nor cuda:N");
  if (cfg.device_budget_bytes < (1ull << 20))
    return bad_field("device_budget_bytes", "must be at least 1 MiB");
  if (cfg.listen.rfind("tcp://", 0) != 0 && cfg.listen.rfind("inproc://", 0) != 0 &&
      cfg.listen.rfind("ipc://", 0) != 0)
    return bad_field("listen",
                     "\"" + cfg.listen + "\" is not a tcp://, ipc:// or inproc:// endpoint");
  if (cfg.executors > 64)
    return bad_field("executors", "must be at most 64");
  if (cfg.executors == 0 && cfg.peers.empty())
    return bad_field("executors", "must be at least 1 on a node without peers");
  for (const auto& p : cfg.peers)
    if (p.rfind("tcp://", 0) != 0 && p.rfind("inproc://", 0) != 0 && p.rfind("ipc://", 0) != 0)
      return bad_field("peers", "\"" + p + "\" is not a tcp://, ipc:// or inproc:// endpoint");
  for (const auto& p : cfg.fetch_peers)
    if (p.rfind("tcp://", 0) != 0 && p.rfind("inproc://", 0) != 0 && p.rfind("ipc://", 0) != 0)
      return bad_field("fetch_peers",
                       "\"" + p + "\" is not a tcp://, ipc:// or inproc:// endpoint");
  if (!cfg.fetch_peers.empty() && !cfg.curve_peer_keys.empty())
    return bad_field("fetch_peers",
                     "cannot be set with CURVE (curve_peer_keys match the peers): leave it "
                     "empty to fetch from the peers");
  if (cfg.fetch_timeout_ms < 1)
    return bad_field("fetch_timeout_ms", "must be at least 1");
  if (cfg.max_message_bytes < 4096)
    return bad_field("max_message_bytes", "must be at least 4 KiB");
  if (!cfg.metrics_listen.empty() && cfg.metrics_listen.rfind(':') == std::string::npos)
    return bad_field("metrics_listen", "\"" + cfg.metrics_listen + "\" is not HOST:PORT");
  if (!cfg.curve_peer_keys.empty() && cfg.curve_peer_keys.size() != cfg.peers.size())
    return bad_field("curve_peer_keys", "has " + std::to_string(cfg.curve_peer_keys.size()) +
                                            " keys for " + std::to_string(cfg.peers.size()) +
                                            " peers");
  if (!cfg.curve_peer_keys.empty() && cfg.curve_secret_key_file.empty())
    return bad_field("curve_peer_keys", "needs curve_secret_key_file (the node's own key pair)");
  if (cfg.io_threads < 1 || cfg.io_threads > 64)
    return bad_field("io_threads", "must be between 1 and 64");
  if (cfg.actor_threads < 1 || cfg.actor_threads > 64)
    return bad_field("actor_threads", "must be between 1 and 64");
  if (auto err = validate(cfg.marks))
    return bad_field("watermark_low/high/critical", describe(err));
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
  bool known = false;
  for (auto* l : levels)
    known = known || cfg.log_level == l;
  if (!known)
    return bad_field("log_level", "\"" + cfg.log_level + "\" is not a log level");
  return {};
}

} // namespace tessera
