// gnuplot scripts for a simulator run: deadline throughput and p99 latency
// against load level per config and policy (PartialLoading's figure), and each
// node's busy fraction over time for every run at the first load level.
#include "tessera/core/run_program.hpp"
#include "tessera/sim/simulation.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

namespace tessera::sim {

bool draw_plots(const scenario& s, const std::vector<run_summary>& rows,
                const std::string& out_dir) {
  if (!run_program({"gnuplot", "--version"})) {
    std::fprintf(stderr, "note: gnuplot is not installed; no PNG plots (the CSVs are written)\n");
    return false;
  }
  // One line per (config, policy), as inline data blocks (rows of other lines
  // would break a filtered line into points).
  std::vector<std::pair<std::string, std::string>> lines;
  for (const auto& r : rows)
    if (std::find(lines.begin(), lines.end(), std::make_pair(r.config, r.policy)) == lines.end())
      lines.emplace_back(r.config, r.policy);
  auto script = out_dir + "/plots.gp";
  std::ofstream gp{script};
  gp << "set terminal pngcairo size 900,540 noenhanced\nset key outside right\nset grid\n";
  gp << "set datafile separator ','\n"; // the per-node CSVs; the inline blocks have one field
  // An explicit x range: a scenario with one load level would leave gnuplot
  // an empty range, and its curves start at 0 so a single point reads.
  auto [lo, hi] = std::minmax_element(s.workload.load_levels.begin(), s.workload.load_levels.end());
  double pad = *hi > *lo ? 0.05 * (*hi - *lo) : 0.5 * *lo;
  char range[128];
  std::snprintf(range, sizeof range, "set xrange [%g:%g]\nset yrange [0:*]\n", *lo - pad,
                *hi + pad);
  for (size_t k = 0; k < lines.size(); ++k) {
    gp << "$L" << k << " << EOD\n";
    for (const auto& r : rows)
      if (r.config == lines[k].first && r.policy == lines[k].second)
        gp << r.level << ',' << r.met_per_s << ',' << r.p50_ms << ',' << r.p99_ms << '\n';
    gp << "EOD\n";
  }
  auto plot = [&](const char* file, const char* title, const char* ylabel, int column) {
    gp << "set output '" << out_dir << "/" << file << "'\n";
    gp << "set title '" << s.name << ": " << title << "'\n";
    gp << range << "set xlabel 'load level (x rate)'\nset ylabel '" << ylabel << "'\nplot ";
    for (size_t k = 0; k < lines.size(); ++k) {
      auto name = lines[k].first == "-" ? lines[k].second : lines[k].first + " " + lines[k].second;
      gp << (k == 0 ? "" : ", ") << "$L" << k << " using 1:" << column
         << " with linespoints title '" << name << "'";
    }
    gp << "\n";
  };
  plot("deadline_throughput.png", "requests meeting their deadline per second", "met / s", 2);
  plot("latency_p99.png", "99th percentile latency", "p99 latency (ms)", 4);
  double level = s.workload.load_levels.front();
  for (const auto& [config, policy] : lines) {
    char stem[320];
    std::snprintf(stem, sizeof stem, "%s/%s%s_x%.2f", out_dir.c_str(),
                  config == "-" ? "" : (config + "_").c_str(), policy.c_str(), level);
    uint32_t nodes = std::min(s.nodes.count, 16u); // a readable plot
    gp << "set output '" << stem << "_busy.png'\n";
    gp << "set title '" << s.name << " (" << (config == "-" ? "" : config + " ") << policy
       << "): busy fraction per node'\n";
    gp << "set autoscale x\nset xlabel 'virtual time (ms)'\nset ylabel 'busy fraction'\nset yrange "
          "[0:1.05]\n";
    gp << "plot for [n=0:" << (nodes - 1) << "] '" << stem
       << "_nodes.csv' skip 1 using ($2 == n ? $1 : 1/0):3 with linespoints title sprintf('node "
          "%d', n)\n";
  }
  gp.close();
  if (auto rc = run_program({"gnuplot", script}); !rc || *rc != 0) {
    std::fprintf(stderr, "note: gnuplot failed on %s; the CSVs are written\n", script.c_str());
    return false;
  }
  return true;
}

} // namespace tessera::sim
