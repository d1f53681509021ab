// The `tessera` command line: one binary whose subcommands build the zoo, import
// and run models, check the store and run benchmarks.
#include "commands.hpp"
#include "tessera/core/version.hpp"

#include <iostream>

int main(int argc, char** argv) {
  using namespace tessera::cli;
  CLI::App app{"Tessera: DNN inference for clusters of edge boxes, built on shared "
               "parameter blocks.\n"
               "Start with `tessera zoo` (builds the model zoo into the store), then "
               "`tessera run --model resnet18`."};
  app.set_version_flag("--version", std::string{"tessera "} + tessera::version());
  app.require_subcommand(1);
  cli_context ctx;
  ctx.add_global_options(app);
  command_action action;
  add_zoo_command(app, ctx, action);
  add_models_command(app, ctx, action);
  add_run_command(app, ctx, action);
  add_demo_command(app, ctx, action);
  add_import_command(app, ctx, action);
  add_store_command(app, ctx, action);
  add_config_command(app, ctx, action);
  add_node_command(app, ctx, action);
  add_client_commands(app, ctx, action);
  add_top_command(app, ctx, action);
  add_status_command(app, ctx, action);
  add_bench_command(app, ctx, action);
  add_fuse_command(app, ctx, action);
  add_keys_command(app, ctx, action);
  add_cluster_command(app, ctx, action);
  add_sim_command(app, ctx, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (auto err = ctx.resolve())
    return fail(err);
  return action ? action() : 0;
}
