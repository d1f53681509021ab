#include "tessera/sim/simulation.hpp"

#include "tessera/core/error.hpp"
#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/realtime_cluster.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

namespace tessera::sim {

namespace {

// Every policy at every level of one configuration (`name` empty: none).
caf::error run_config(const scenario& s, const std::string& name, const std::vector<schedule_model>& models,
                      const simulation_options& opts, std::vector<run_summary>& rows) {
  std::string store_root = opts.store_path;
  if (s.mode == run_mode::real_time && s.models.source == model_source::synthetic) {
    store_root = opts.out_dir + "/store";
    if (auto err = write_synthetic_store(models, store_root))
      return err;
  }
  auto label = name.empty() ? std::string{} : name + " ";
  for (double level : s.workload.load_levels) {
    auto requests = make_workload(s, models, level);
    if (!requests)
      return requests.error();
    for (auto policy : s.policies) {
      auto started = std::chrono::steady_clock::now();
      progress_fn progress;
      if (opts.progress)
        progress = [&](size_t done, size_t all) {
          std::fprintf(stderr, "\r  %s%s x%.2f: %zu / %zu answered", label.c_str(), to_string(policy), level, done,
                       all);
        };
      auto run = s.mode == run_mode::real_time
                   ? run_cluster_realtime(s, models, *requests, policy, level, store_root, progress)
                   : run_cluster(s, models, *requests, policy, level, progress);
      if (!run)
        return run.error();
      run->config = name;
      auto stem = opts.out_dir + "/" + run_stem(*run);
      if (auto err = write_requests_csv(*run, stem + "_requests.csv"))
        return err;
      if (auto err = write_nodes_csv(*run, s.nodes.count, s.bucket_ms, stem + "_nodes.csv"))
        return err;
      rows.push_back(summarize(*run));
      if (opts.progress) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::fprintf(stderr, "\r  %s%s x%.2f: %zu requests, %llu events in %.2f s (%.0f events/s)\n", label.c_str(),
                     to_string(policy), level, requests->size(), static_cast<unsigned long long>(run->events),
                     secs, static_cast<double>(run->events) / std::max(1e-9, secs));
      }
    }
  }
  return {};
}

} // namespace

caf::expected<std::vector<run_summary>> run_simulation(const scenario& s, const std::vector<schedule_model>& models,
                                                       const simulation_options& opts) {
  std::error_code fs_err;
  std::filesystem::create_directories(opts.out_dir, fs_err);
  if (fs_err)
    return make_error(ec::io_error, "cannot create " + opts.out_dir + ": " + fs_err.message());
  std::vector<run_summary> rows;
  if (s.configs.empty()) {
    if (auto err = run_config(s, "", models, opts, rows))
      return err;
  }
  for (const auto& c : s.configs) {
    auto sc = with_config(s, c);
    // Synthetic models follow the config's sharing; zoo models are the store's.
    auto config_models = sc.models.source == model_source::synthetic ? synthetic_models(sc.models) : models;
    if (auto err = run_config(sc, c.name, config_models, opts, rows))
      return err;
  }
  if (auto err = write_summary_csv(rows, opts.out_dir + "/summary.csv"))
    return err;
  if (opts.plots)
    draw_plots(s, rows, opts.out_dir);
  return rows;
}

} // namespace tessera::sim
