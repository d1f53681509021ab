// `tessera status`: the tiers of this node's memory. Until the node daemon
// exists, it opens the store in this process, loads the models named with
// --load (as a node would on request) and reports store, host and device
// tiers; the totals add up by construction and are checked here too.
#include "commands.hpp"

#include "local_runtime.hpp"
#include "status_view.hpp"
#include "tessera/core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace tessera::cli {

void add_status_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("status", "show memory per tier: store, host and device");
  auto models = std::make_shared<std::vector<std::string>>();
  auto unload = std::make_shared<std::vector<std::string>>();
  auto blobs = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--load", *models, "models to load first (NAME or NAME:VERSION)");
  cmd->add_option("--unload", *unload, "models to unload after loading (to see what stays cached)");
  cmd->add_flag("--blobs", *blobs, "list every resident blob with its references and pins");
  cmd->add_flag("--json", *json, "print one JSON object instead of tables");
  cmd->callback([&ctx, &action, models, unload, blobs, json] {
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
