// gnuplot scripts for a simulator run: deadline throughput against load level
// per policy (PartialLoading's figure), and each node's busy fraction over
// time for every run at the first load level.
#include "tessera/sim/simulation.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

namespace tessera::sim {

bool draw_plots(const scenario& s, const std::vector<run_summary>& rows, const std::string& out_dir) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "note: gnuplot is not installed; no PNG plots (the CSVs are written)\n");
    return false;
  }
  // One line per (config, policy): summary.csv's columns 1 and 2.
  std::set<std::pair<std::string, std::string>> lines;
  for (const auto& r : rows)
    lines.insert({r.config, r.policy});
  auto script = out_dir + "/plots.gp";
  std::ofstream gp{script};
  gp << "set datafile separator ','\nset terminal pngcairo size 900,540\nset key outside right\n";
  gp << "set output '" << out_dir << "/deadline_throughput.png'\n";
  gp << "set title '" << s.name << ": requests meeting their deadline per second'\n";
  gp << "set xlabel 'load level (x rate)'\nset ylabel 'met / s'\n";
  gp << "plot ";
  bool first = true;
  for (const auto& [config, policy] : lines) {
    auto title = config == "-" ? policy : config + " " + policy;
    gp << (first ? "" : ", ") << "'" << out_dir << "/summary.csv' using (strcol(1) eq '" << config
       << "' && strcol(2) eq '" << policy << "' ? $3 : 1/0):10 with linespoints title '" << title << "'";
    first = false;
  }
  gp << "\n";
  double level = s.workload.load_levels.front();
  for (const auto& [config, policy] : lines) {
    char stem[320];
    std::snprintf(stem, sizeof stem, "%s/%s%s_x%.2f", out_dir.c_str(), config == "-" ? "" : (config + "_").c_str(),
                  policy.c_str(), level);
    uint32_t nodes = std::min(s.nodes.count, 16u); // a readable plot
    gp << "set output '" << stem << "_busy.png'\n";
    gp << "set title '" << s.name << " (" << (config == "-" ? "" : config + " ") << policy
       << "): busy fraction per node'\n";
    gp << "set xlabel 'virtual time (ms)'\nset ylabel 'busy fraction'\nset yrange [0:1.05]\n";
    gp << "plot for [n=0:" << (nodes - 1) << "] '" << stem
       << "_nodes.csv' using ($2 == n ? $1 : 1/0):3 with lines title sprintf('node %d', n)\n";
    gp << "set autoscale y\n";
  }
  gp.close();
  if (std::system(("gnuplot '" + script + "' 2>/dev/null").c_str()) != 0) {
    std::fprintf(stderr, "note: gnuplot failed on %s; the CSVs are written\n", script.c_str());
    return false;
  }
  return true;
}

} // namespace tessera::sim
