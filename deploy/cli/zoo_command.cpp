// `tessera zoo`: builds the built-in model zoo into the store, or lists it with
// each model's size and the bytes it shares with the others.
#include "commands.hpp"

#include "tessera/store/store_gc.hpp"

#include "tessera/zoo/zoo.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

namespace tessera::cli {

namespace {

void print_listing(const std::vector<model_manifest>& models) {
  std::map<std::string, std::vector<const model_manifest*>> families;
  for (const auto& m : models)
    families[m.family.empty() ? "(none)" : m.family].push_back(&m);
  std::printf("%-20s %-10s %10s %6s  %s\n", "model", "family", "params", "nodes", "description");
  for (const auto& m : models)
    std::printf("%-20s %-10s %10s %6zu  %s\n", model_ref(m).c_str(), m.family.c_str(),
                format_mib(parameter_bytes(m)).c_str(), m.nodes.size(), m.description.c_str());
  std::printf("\nShared bytes between models (MiB; models of different families share nothing):\n");
  for (const auto& [family, members] : families) {
    // Columns as wide as the longest name: two models never share a header.
    int width = 14;
    int first = std::max<int>(20, static_cast<int>(family.size()));
    for (const auto* m : members) {
      width = std::max<int>(width, static_cast<int>(m->name.size()));
      first = std::max<int>(first, static_cast<int>(m->name.size()));
    }
    std::printf("\n%-*s", first, family.c_str());
    for (const auto* b : members)
      std::printf(" %*s", width, b->name.c_str());
    std::printf("\n");
    for (const auto* a : members) {
      std::printf("%-*s", first, a->name.c_str());
      for (const auto* b : members)
        std::printf(" %*.1f", width, to_mib(shared_bytes(*a, *b)));
      std::printf("\n");
    }
  }
}

} // namespace

void add_zoo_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("zoo", "build the built-in model zoo into the store, or list it");
  auto opts = std::make_shared<zoo::zoo_options>();
  auto list = std::make_shared<bool>(false);
  cmd->add_option("--scale", opts->scale, "width multiplier: 1 gives real ResNet-18, "
                                          "MobileNetV2 and ViT-Tiny sizes (208 MB in all), 4 about 3 GB")
    ->check(CLI::Range(0.05, 16.0));
  cmd->add_option("--seed", opts->seed, "seed of the parameter values (same seed, same blob ids)");
  cmd->add_option("--family", opts->families, "build only these families (resnet, mobilenet, vit)");
  cmd->add_flag("--list", *list, "list the stored models, their sizes and shared bytes");
  cmd->callback([&ctx, &action, opts, list] {
    action = [&ctx, opts, list]() -> int {
      auto store = ctx.open_store(!*list);
      if (!store)
        return fail(store.error());
      if (*list) {
        print_listing(store->manifests().list_latest());
        return 0;
      }
      // Its blobs are written before their manifests: `store gc` waits.
      auto writing = store::store_lock::take(*store, store::store_lock::mode::write, false);
      if (!writing)
        return fail(writing.error());
      auto start = std::chrono::steady_clock::now();
      auto built = zoo::build_zoo(*store, *opts, [](const std::string& model, size_t done,
                                                    size_t total) {
        std::fprintf(stderr, "\r[%zu/%zu] %-24s", done, total, model.c_str());
        if (done == total)
          std::fprintf(stderr, "\n");
      });
      if (!built)
        return fail(built.error());
      auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      size_t total = 0;
      std::vector<model_manifest> manifests;
      for (const auto& e : *built)
        manifests.push_back(e.manifest);
      std::map<content_id, size_t> distinct;
      for (const auto& m : manifests)
        for (const auto& [id, bytes] : unique_blobs(m))
          distinct[id] = bytes;
      for (const auto& [id, bytes] : distinct)
        total += bytes;
      std::printf("built %zu models (%s of distinct blobs) in %.1f s into %s\n", built->size(),
                  format_mib(total).c_str(), secs, store->root().c_str());
      return 0;
    };
  });
}

} // namespace tessera::cli
