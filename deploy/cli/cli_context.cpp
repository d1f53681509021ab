#include "cli_context.hpp"

#include "tessera/core/error.hpp"

#include <cstdio>
#include <iostream>

namespace tessera::cli {

void cli_context::add_global_options(CLI::App& app) {
  app.add_option("-c,--config", config_file_,
                 "TOML configuration file (entries at top level or under [node])");
  app.add_option("-s,--store", store_flag_,
                 "block store folder (default: tessera-store, or $TESSERA_STORE_PATH)");
  app.add_option("--set", overrides_,
                 "override a configuration entry, KEY=VALUE (see `tessera config`)");
}

caf::error cli_context::resolve() {
  node_config cfg;
  if (!config_file_.empty())
    if (auto err = apply_config_file(cfg, config_file_))
      return err;
  if (auto err = apply_config_env(cfg))
    return err;
  if (!store_flag_.empty())
    cfg.store_path = store_flag_;
  for (const auto& kv : overrides_) {
    auto eq = kv.find('=');
    if (eq == std::string::npos)
      return make_error(ec::bad_config, "--set " + kv + ": expected KEY=VALUE");
    if (auto err = set_config_value(cfg, kv.substr(0, eq), kv.substr(eq + 1)))
      return err;
  }
  if (auto err = validate_config(cfg))
    return err;
  config_ = cfg;
  return {};
}

caf::expected<store::block_store> cli_context::open_store(bool create) const {
  return store::block_store::open(config_.store_path, create);
}

int fail(const caf::error& err) {
  std::cerr << "tessera: " << describe(err) << "\n";
  return 1;
}

caf::error parse_model_ref(const std::string& text, std::string& name, uint32_t& version) {
  auto colon = text.rfind(':');
  version = 0;
  name = text;
  if (colon == std::string::npos)
    return {};
  name = text.substr(0, colon);
  try {
    auto v = std::stoul(text.substr(colon + 1));
    if (v == 0 || v > UINT32_MAX)
      throw std::out_of_range{"version"};
    version = static_cast<uint32_t>(v);
  } catch (const std::exception&) {
    return make_error(ec::invalid_argument, "\"" + text + "\": version must be a positive integer");
  }
  return {};
}

} // namespace tessera::cli
