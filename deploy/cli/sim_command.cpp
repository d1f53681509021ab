// `tessera sim SCENARIO.toml`: runs a scenario through the in-process cluster
// simulator (the real scheduler actor, simulated devices, virtual time) for
// every policy and load level, writes CSVs and plots, and prints a summary.
#include "commands.hpp"

#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/simulation.hpp"
#include "tessera/sim/validation.hpp"

#include <cstdio>

namespace tessera::cli {

void add_sim_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("sim", "simulate a cluster scenario in virtual time and compare policies");
  auto path = std::make_shared<std::string>();
  auto opts = std::make_shared<sim::simulation_options>();
  auto quiet = std::make_shared<bool>(false);
  auto no_plots = std::make_shared<bool>(false);
  cmd->add_option("scenario", *path, "scenario TOML (see sim/scenarios/ and docs/simulator.md)")->required();
  cmd->add_option("--out", opts->out_dir, "folder for the CSVs and plots")->capture_default_str();
  cmd->add_flag("--quiet", *quiet, "no progress on stderr");
  cmd->add_flag("--no-plots", *no_plots, "skip the gnuplot PNGs");
  auto realtime = std::make_shared<bool>(false);
  auto validate = std::make_shared<bool>(false);
  cmd->add_flag("--validate", *validate,
                "fidelity check: run the scenario's first policy and level simulated and for real (zoo models, "
                "LibTorch on the CPU, 3 local nodes) and print both side by side");
  cmd->add_flag("--realtime", *realtime,
                "run on real nodes over inproc:// ZeroMQ in real time (scaled by the scenario's speedup)");
  cmd->callback([&ctx, &action, path, opts, quiet, no_plots, realtime, validate] {
    action = [&ctx, path, opts, quiet, no_plots, realtime, validate]() -> int {
      auto s = sim::load_scenario(*path);
      if (!s)
        return fail(s.error());
      if (*realtime)
        s->mode = sim::run_mode::real_time;
      opts->store_path = ctx.config().store_path;
      std::vector<schedule_model> models;
      if (s->models.source == sim::model_source::zoo) {
        auto store = ctx.open_store(false);
        if (!store)
          return fail(store.error());
        auto zoo = sim::zoo_models(s->models, store->manifests().list_latest());
        if (!zoo)
          return fail(zoo.error());
        models = std::move(*zoo);
      } else {
        models = sim::synthetic_models(s->models);
      }
      if (*validate) {
        std::printf("validating %s: %u nodes, %zu models, %llu requests, simulated and real...\n", s->name.c_str(),
                    s->nodes.count, models.size(), static_cast<unsigned long long>(s->workload.requests));
        auto v = sim::validate_against_real(*s, models, opts->store_path);
        if (!v)
          return fail(v.error());
        std::printf("%s", sim::validation_table(*v).c_str());
        return v->within_tolerance() ? 0 : 1;
      }
      opts->progress = !*quiet;
      opts->plots = !*no_plots;
      std::printf("scenario %s: %u nodes x %u executors, %zu models, seed %llu, %s\n", s->name.c_str(),
                  s->nodes.count, s->nodes.executors, models.size(), static_cast<unsigned long long>(s->seed),
                  s->mode == sim::run_mode::real_time ? "real time on inproc:// nodes" : "virtual time");
      if (!s->description.empty())
        std::printf("%s\n", s->description.c_str());
      auto rows = sim::run_simulation(*s, models, *opts);
      if (!rows)
        return fail(rows.error());
      std::printf("\n%s\nCSVs in %s/ (summary.csv, <policy>_x<level>_requests.csv, _nodes.csv)\n",
                  sim::summary_table(*rows).c_str(), opts->out_dir.c_str());
      return 0;
    };
  });
}

} // namespace tessera::cli
