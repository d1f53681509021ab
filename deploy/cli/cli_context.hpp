// State shared by the `tessera` subcommands: the layered node configuration
// (defaults, TOML file, TESSERA_* variables, flags) and helpers to open the store
// and report errors the same way everywhere.
#pragma once

#include "tessera/core/bytes_text.hpp"
#include "tessera/core/node_config.hpp"
#include "tessera/store/block_store.hpp"

#include <CLI/CLI.hpp>
#include <caf/expected.hpp>

#include <map>
#include <optional>
#include <string>

namespace tessera::cli {

class cli_context {
public:
  /// Adds --config, --store and --set KEY=VALUE to the top-level app.
  void add_global_options(CLI::App& app);

  /// Resolves the configuration once (before a subcommand runs).
  caf::error resolve();

  const node_config& config() const {
    return config_;
  }

  /// Opens the configured store; `create` makes it when absent.
  caf::expected<store::block_store> open_store(bool create) const;

private:
  node_config config_;
  std::string config_file_;
  std::string store_flag_;
  std::vector<std::string> overrides_;
};

/// Prints "tessera: <error>" to stderr and returns the exit code for it.
int fail(const caf::error& err);

/// Parses "NAME" or "NAME:VERSION".
caf::error parse_model_ref(const std::string& text, std::string& name, uint32_t& version);

} // namespace tessera::cli
