// Each `tessera` subcommand registers itself on the app; the callbacks run after
// the global configuration is resolved and return the process exit code.
#pragma once

#include "cli_context.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tessera::cli {

/// Runs after parsing; set by the chosen subcommand.
using command_action = std::function<int()>;

void add_zoo_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_models_command(CLI::App& app, cli_context& ctx, command_action& action);
/// `tessera models rm`, a subcommand of `models`.
void add_models_remove(CLI::App& models, cli_context& ctx, command_action& action);
void add_run_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_demo_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_import_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_store_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_config_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_node_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_client_commands(CLI::App& app, cli_context& ctx, command_action& action);
void add_top_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_status_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_bench_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_fuse_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_keys_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_cluster_command(CLI::App& app, cli_context& ctx, command_action& action);
void add_sim_command(CLI::App& app, cli_context& ctx, command_action& action);

/// What `tessera run --group NAME` asks for (deploy/cli/fuse_command.cpp).
struct group_run_args {
  std::string group;
  /// Members to answer for; all when empty.
  std::vector<std::string> members;
  int64_t batch = 1;
  uint64_t seed = 1;
  uint32_t repeat = 1;
};

/// Loads a stored group as one unit and runs it on random input.
int run_group_command(cli_context& ctx, const group_run_args& args);

} // namespace tessera::cli
