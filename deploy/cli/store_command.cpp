// `tessera store`: checks the block store. `verify` re-hashes every blob,
// names each corrupt one with the models that use it, and lists the blobs that
// no stored model version uses (orphans); `gc` removes those, and the
// skeletons no model version uses.
#include "commands.hpp"

#include "tessera/store/store_gc.hpp"
#include "tessera/store/store_orphans.hpp"

#include <cstdio>

namespace tessera::cli {

void add_store_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("store", "inspect and check the block store");
  cmd->require_subcommand(1);
  auto* verify = cmd->add_subcommand(
      "verify", "re-hash every blob; report corrupt ones, and those no model version uses");
  verify->callback([&ctx, &action] {
    action = [&ctx]() -> int {
      auto store = ctx.open_store(false);
      if (!store)
        return fail(store.error());
      auto report = store->verify_all([](size_t done, size_t total) {
        if (done % 64 == 0 || done == total)
          std::fprintf(stderr, "\rverified %zu/%zu blobs", done, total);
        if (done == total)
          std::fprintf(stderr, "\n");
      });
      for (const auto& c : report.corrupt) {
        std::printf("CORRUPT %s: %s\n", c.blob.to_hex().c_str(), c.reason.c_str());
        for (const auto& m : c.models)
          std::printf("  used by %s\n", m.c_str());
      }
      auto orphans = store::find_orphans(*store);
      for (const auto& id : orphans.blobs)
        std::printf("ORPHAN %s: no version of any stored model uses it\n", id.to_hex().c_str());
      std::printf("%zu blobs (%s) checked, %zu corrupt, %zu orphan (%s)\n", report.blobs_checked,
                  format_mib(report.bytes_checked).c_str(), report.corrupt.size(),
                  orphans.blobs.size(), format_mib(orphans.bytes).c_str());
      return report.corrupt.empty() ? 0 : 2;
    };
  });
  auto* gc = cmd->add_subcommand(
      "gc", "remove the blobs and skeletons that no version of any stored model uses");
  gc->callback([&ctx, &action] {
    action = [&ctx]() -> int {
      auto store = ctx.open_store(false);
      if (!store)
        return fail(store.error());
      // An import writes its blobs before its manifest: gc waits for none and
      // refuses while one runs, so it never takes an import's blobs.
      auto lock = store::store_lock::take(*store, store::store_lock::mode::collect, false);
      if (!lock)
        return fail(lock.error());
      auto report = store::collect_garbage(*store);
      if (!report)
        return fail(report.error());
      std::printf("removed %zu blobs (%s) and %zu skeletons that no model version uses\n",
                  report->blobs, format_mib(report->bytes).c_str(), report->skeletons);
      return 0;
    };
  });
}

} // namespace tessera::cli
