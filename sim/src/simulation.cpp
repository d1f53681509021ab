#include "tessera/sim/simulation.hpp"

#include "tessera/core/error.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

namespace tessera::sim {

caf::expected<std::vector<run_summary>> run_simulation(const scenario& s, const std::vector<schedule_model>& models,
                                                       const simulation_options& opts) {
  std::error_code fs_err;
  std::filesystem::create_directories(opts.out_dir, fs_err);
  if (fs_err)
    return make_error(ec::io_error, "cannot create " + opts.out_dir + ": " + fs_err.message());
  std::vector<run_summary> rows;
  for (double level : s.workload.load_levels) {
    auto requests = make_workload(s, models, level);
    if (!requests)
      return requests.error();
    for (auto policy : s.policies) {
      auto started = std::chrono::steady_clock::now();
      progress_fn progress;
      if (opts.progress)
        progress = [&](size_t done, size_t all) {
          std::fprintf(stderr, "\r  %s x%.2f: %zu / %zu answered", to_string(policy), level, done, all);
        };
      auto run = run_cluster(s, models, *requests, policy, level, progress);
      if (!run)
        return run.error();
      auto stem = opts.out_dir + "/" + run_stem(*run);
      if (auto err = write_requests_csv(*run, stem + "_requests.csv"))
        return err;
      if (auto err = write_nodes_csv(*run, s.nodes.count, s.bucket_ms, stem + "_nodes.csv"))
        return err;
      rows.push_back(summarize(*run));
      if (opts.progress) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::fprintf(stderr, "\r  %s x%.2f: %zu requests, %llu events in %.2f s (%.0f events/s)\n",
                     to_string(policy), level, requests->size(), static_cast<unsigned long long>(run->events),
                     secs, static_cast<double>(run->events) / std::max(1e-9, secs));
      }
    }
  }
  if (auto err = write_summary_csv(rows, opts.out_dir + "/summary.csv"))
    return err;
  if (opts.plots)
    draw_plots(s, rows, opts.out_dir);
  return rows;
}

} // namespace tessera::sim
