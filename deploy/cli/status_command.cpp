// `tessera status`: the tiers of this node's memory. Without --endpoint, it
// opens the store in this process, loads the models named with --load (as a
// node would on request) and reports store, host and device tiers; the totals
// add up by construction and are checked here too. With --endpoint, it asks a
// running node for its server_status (requests, devices, executors, and what
// their streamed runs read and copied per block).
#include "client_options.hpp"
#include "commands.hpp"

#include "local_runtime.hpp"
#include "node_status_view.hpp"
#include "status_view.hpp"
#include "tessera/core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace tessera::cli {

namespace {

/// Asks a running node for its server_status and prints it.
int print_running_node(const client_options& io, bool json) {
  zmq::context_t zctx{1};
  auto c = connect_client(zctx, io);
  if (!c)
    return fail(c.error());
  auto r = c->call_as<transport::server_status_response>({"", transport::server_status_request{}},
                                                         std::chrono::milliseconds(io.timeout_ms));
  if (!r)
    return fail(r.error());
  if (json)
    std::printf("%s\n", node_status_json(*r).dump().c_str());
  else
    print_node_status(*r);
  return 0;
}

} // namespace

void add_status_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("status", "show memory per tier: store, host and device (or, with "
                                           "--endpoint, a running node's status)");
  auto models = std::make_shared<std::vector<std::string>>();
  auto unload = std::make_shared<std::vector<std::string>>();
  auto blobs = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--load", *models, "models to load first (NAME or NAME:VERSION)");
  cmd->add_option("--unload", *unload, "models to unload after loading (to see what stays cached)");
  cmd->add_flag("--blobs", *blobs, "list every resident blob with its references and pins");
  cmd->add_flag("--json", *json, "print one JSON object instead of tables");
  auto io = std::make_shared<client_options>();
  add_client_options(cmd, *io);
  cmd->callback([&ctx, &action, cmd, models, unload, blobs, json, io] {
    if (cmd->get_option("--endpoint")->count() > 0) {
      bool local_only = !models->empty() || !unload->empty() || *blobs;
      action = [io, json, local_only]() -> int {
        if (local_only)
          return fail(make_error(ec::invalid_argument,
                                 "--load, --unload and --blobs apply to this process's store, "
                                 "not to a node asked with --endpoint"));
        return print_running_node(*io, *json);
      };
      return;
    }
    action = [&ctx, models, unload, blobs, json]() -> int {
      auto store = ctx.open_store(false);
      if (!store)
        return fail(store.error());
      auto store_tier = residency::store_tier_of(*store);
      auto rt = local_runtime::open(ctx.config(), std::move(*store));
      if (!rt)
        return fail(rt.error());
      for (const auto& m : *models)
        if (auto loaded = (*rt)->model(m); !loaded)
          return fail(loaded.error());
      for (const auto& m : *unload)
        (*rt)->unload(m);
      auto s = (*rt)->residency().stats();
      const auto& d = s.device;
      if (d.used_bytes != d.referenced_bytes + d.cached_bytes + d.detached_bytes)
        return fail(make_error(ec::backend_error, "device tier totals do not add up"));
      if (*json) {
        std::printf("%s\n", tiers_json(s, store_tier).dump().c_str());
        return 0;
      }
      print_tiers(s, store_tier);
      if (*blobs)
        print_blobs((*rt)->residency().blobs());
      return 0;
    };
  });
}

} // namespace tessera::cli
