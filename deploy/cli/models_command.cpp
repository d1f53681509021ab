// `tessera models`: lists stored models, shows one manifest, or exports one
// as a single TorchScript file.
#include "commands.hpp"

#include "tessera/core/error.hpp"
#include "tessera/core/manifest_json.hpp"
#include "tessera/torch/torchscript_files.hpp"

#include <cstdio>

namespace tessera::cli {

void add_models_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd =
      app.add_subcommand("models", "list stored models, print or export one, or remove one");
  cmd->require_subcommand(0, 1);
  add_models_remove(*cmd, ctx, action);
  auto show = std::make_shared<std::string>();
  cmd->add_option("--show", *show, "print the manifest of NAME[:VERSION] as JSON");
  auto export_to = std::make_shared<std::string>();
  cmd->add_option("--export", *export_to,
                  "with --show NAME[:VERSION]: write the model as one TorchScript file, which "
                  "torch.jit.load reads (a zoo model's blocks become its submodules)");
  cmd->callback([&ctx, &action, cmd, show, export_to] {
    if (cmd->got_subcommand("rm"))
      return; // its own action
    action = [&ctx, show, export_to]() -> int {
      auto store = ctx.open_store(false);
      if (!store)
        return fail(store.error());
      if (!export_to->empty() && show->empty())
        return fail(make_error(ec::invalid_argument, "--export FILE needs --show NAME[:VERSION]"));
      if (!show->empty()) {
        std::string name;
        uint32_t version = 0;
        if (auto err = parse_model_ref(*show, name, version))
          return fail(err);
        auto m = store->manifests().get(name, version);
        if (!m)
          return fail(m.error());
        if (!export_to->empty()) {
          if (auto err = torch_backend::export_torchscript(*store, *m, *export_to))
            return fail(err);
          std::printf("wrote %s as %s\n", model_ref(*m).c_str(), export_to->c_str());
          return 0;
        }
        std::fputs(to_json_text(*m).c_str(), stdout);
        return 0;
      }
      std::printf("%-24s %-10s %10s %6s %6s %8s\n", "model", "family", "params", "nodes",
                  "inputs", "outputs");
      for (const auto& m : store->manifests().list_latest())
        std::printf("%-24s %-10s %10s %6zu %6zu %8zu\n", model_ref(m).c_str(), m.family.c_str(),
                    format_mib(parameter_bytes(m)).c_str(), m.nodes.size(), m.inputs.size(),
                    m.outputs.size());
      return 0;
    };
  });
}

} // namespace tessera::cli
