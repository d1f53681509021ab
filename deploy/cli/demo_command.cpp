// `tessera demo`: serves the zoo in this process and sends it a sequence of
// sample requests, printing for each what came back and how much of the model
// had to be read (models of one family reuse each other's resident blocks).
// This is the single-process form of the node; the actor node replaces it.
#include "commands.hpp"

#include "local_runtime.hpp"
#include "status_view.hpp"
#include "tessera/core/error.hpp"

#include <chrono>
#include <cstdio>

namespace tessera::cli {

void add_demo_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("demo", "serve the stored zoo in-process and send sample requests");
  auto models = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--models", *models,
                  "models to request, in order (default: two of each zoo family, then repeats)");
  cmd->callback([&ctx, &action, models] {
    action = [&ctx, models]() -> int {
      auto store = ctx.open_store(false);
      if (!store)
        return fail(store.error());
      auto rt = local_runtime::open(ctx.config(), std::move(*store));
      if (!rt)
        return fail(rt.error());
      auto requests = *models;
      if (requests.empty())
        requests = {"resnet18", "resnet-cars", "mobilenetv2", "mobilenet-birds",
                    "vit-tiny", "vit-ft", "resnet18", "no-such-model"};
      int failures = 0;
      for (size_t i = 0; i < requests.size(); ++i) {
        std::printf("request %zu: model %s, batch 1\n", i + 1, requests[i].c_str());
        backend::load_report load;
        auto model = (*rt)->model(requests[i], &load);
        if (!model) {
          std::printf("  error: %s\n", describe(model.error()).c_str());
          ++failures;
          continue;
        }
        const auto& m = (*model)->manifest();
        if (load.blobs > 0 && load.blobs_read < load.blobs)
          std::printf(
              "  loaded: read %s of %s (%zu of %zu blobs; the others were resident) in %.1f ms\n",
              format_mib(load.bytes_read).c_str(), format_mib(load.bytes).c_str(), load.blobs_read,
              load.blobs, load.elapsed_ms);
        else if (load.blobs > 0)
          std::printf("  loaded: read all %s (%zu blobs) in %.1f ms\n",
                      format_mib(load.bytes).c_str(), load.blobs, load.elapsed_ms);
        else
          std::printf("  already loaded\n");
        auto inputs = random_inputs(m, 1, i + 1);
        auto start = std::chrono::steady_clock::now();
        auto out = (*rt)->run(**model, inputs);
        auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        if (!out) {
          std::printf("  error: %s\n", describe(out.error()).c_str());
          ++failures;
          continue;
        }
        std::printf("  answered in %.1f ms\n", ms);
        print_outputs(m, *out, "    ");
      }
      std::printf("\n");
      print_tiers((*rt)->residency().stats(), std::nullopt);
      std::printf("%zu requests, %d answered with an error\n", requests.size(), failures);
      return 0;
    };
  });
}

} // namespace tessera::cli
