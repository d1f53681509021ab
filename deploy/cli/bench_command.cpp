// `tessera bench NAME`: runs a benchmark that measures a candidate and its
// baseline in the same run; --json ends the output with one JSON line.
#include "commands.hpp"

#include "bench_report.hpp"

namespace tessera::cli {

void add_bench_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("bench", "run a benchmark against its baseline (see docs/benchmarks.md)");
  cmd->require_subcommand(1);
  // Set before the subcommands are added: they inherit it, so that
  // `bench NAME --json` passes --json up to this command (docs/benchmarks.md).
  cmd->fallthrough();
  auto opts = std::make_shared<bench::bench_options>();
  cmd->add_flag("--json", opts->json, "end with one line {\"bench\": NAME, \"metrics\": {...}}");
  cmd->add_option("--scale", opts->scale, "zoo width multiplier for the benchmark's own store")
    ->check(CLI::Range(0.05, 16.0));
  cmd->add_option("--repeat", opts->repeat, "repetitions per measurement (medians are reported)")
    ->check(CLI::Range(1u, 1000u));
  cmd->add_option("--work-dir", opts->work_dir, "folder for the benchmark's store and files");
  cmd->add_flag("--quick", opts->quick,
                "a short run that checks the benchmark works (smoke tests): scale 0.05 unless "
                "--scale is given, --repeat 1 unless given, shorter phases; not figures to read");
  cmd->add_option(
      "--models", opts->models,
      "bench load, fusion, swap: measure these models (zoo models, or models imported into "
      "the store given with -s/--store) instead of the built-in choice");
  // The store a user imported models into, known once the configuration is.
  auto with_store = [&ctx, opts](int (*run)(const bench::bench_options&)) {
    return [&ctx, opts, run] {
      opts->models_store = ctx.config().store_path;
      return run(*opts);
    };
  };
  // --quick sets what was not given: parsed options are final by the time a
  // subcommand's action runs.
  cmd->parse_complete_callback([cmd, opts] {
    if (!opts->quick)
      return;
    if (cmd->count("--scale") == 0)
      opts->scale = 0.05;
    if (cmd->count("--repeat") == 0)
      opts->repeat = 1;
  });
  auto* load = cmd->add_subcommand("load", "cold and shared loads from the store vs torch::jit::load");
  load->callback([&action, with_store] { action = with_store(&bench::run_load_bench); });
  auto* import = cmd->add_subcommand(
      "import", "zoo models saved as TorchScript files and imported with automatic blocks");
  import->callback([&action, opts] { action = [opts] { return bench::run_import_bench(*opts);
};
} // namespace tessera::cli
);
  auto* sharing = cmd->add_subcommand("sharing", "family loads with and without shared blocks; eviction vs LRU");
  sharing->callback([&action, opts] { action = [opts] { return bench::run_sharing_bench(*opts); }; });
  auto* rpc = cmd->add_subcommand("rpc", "request overhead of a 2-node cluster vs a direct call and a ZeroMQ echo");
  rpc->callback([&action, opts] { action = [opts] { return bench::run_rpc_bench(*opts); }; });
  auto* schedule = cmd->add_subcommand("schedule", "the scheduler in virtual time vs EDF and FIFO; DP vs greedy");
  schedule->callback([&action, opts] { action = [opts] { return bench::run_schedule_bench(*opts); }; });
  auto* serve = cmd->add_subcommand("serve", "many models in one memory budget on 3 nodes: "
                                             "capacity at 95% of deadlines vs whole-model serving");
  serve->add_option("--plot", opts->plot_dir,
                    "write the curve's CSV and draw it as a PNG (gnuplot) into DIR");
  serve->add_flag(
      "--ablations", opts->ablations,
      "also sweep Tessera with one idea off at a time (reuse order, fusion, placement); longer");
  serve->callback([&action, opts] { action = [opts] { return bench::run_serve_bench(*opts); }; });
  auto* overload = cmd->add_subcommand(
      "overload",
      "one node at 2x, 5x and 10x its capacity: goodput with deadline-aware shedding, and without");
  overload->callback(
      [&action, opts] { action = [opts] { return bench::run_overload_bench(*opts); }; });
  auto* tenancy = cmd->add_subcommand("tenancy", "1 vs 2 concurrent executors, and dynamic batching on vs off");
  tenancy->callback([&action, opts] { action = [opts] { return bench::run_tenancy_bench(*opts); }; });
  auto* tiers = cmd->add_subcommand("tiers", "copy-mode and cold loads against memcpy and read bandwidth");
  tiers->callback([&action, opts] { action = [opts] { return bench::run_tiers_bench(*opts); }; });
  auto* fusion = cmd->add_subcommand("fusion", "fused groups vs separate models: latency and peak memory");
  fusion->callback([&action, with_store] { action = with_store(&bench::run_fusion_bench); });
  auto* cuda = cmd->add_subcommand("cuda", "staged host-to-device copies vs a plain pinned cudaMemcpy (GPU)");
  cuda->callback([&action, opts] { action = [opts] { return bench::run_cuda_bench(*opts); }; });
  auto* swap = cmd->add_subcommand("swap", "models streamed block by block at 1/2, 1/3, 1/5 of their size vs fully resident");
  swap->callback([&action, with_store] { action = with_store(&bench::run_swap_bench); });
  auto* sim = cmd->add_subcommand("sim", "the simulator's cost per event, and its growth with requests and nodes");
  sim->callback([&action, opts] { action = [opts] { return bench::run_sim_bench(*opts); }; });
  cmd->fallthrough();
}

} // namespace tessera::cli
