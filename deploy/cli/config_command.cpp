// `tessera config`: every configuration entry with its environment variable,
// its resolved value and its default, so operators see where a value came from.
#include "commands.hpp"

#include <cstdio>

namespace tessera::cli {

void add_config_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("config", "show every configuration entry, its source names and value");
  cmd->callback([&ctx, &action] {
    action = [&ctx]() -> int {
      std::printf("%-22s %-30s %-14s %s\n", "key", "environment", "value", "meaning (default)");
      for (const auto& e : describe_config())
        std::printf("%-22s %-30s %-14s %s (%s)\n", e.key.c_str(), e.env.c_str(),
                    get_config_value(ctx.config(), e.key).c_str(), e.help.c_str(),
                    e.default_value.c_str());
      return 0;
    };
  });
}

} // namespace tessera::cli
