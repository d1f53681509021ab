// gnuplot scripts for a simulator run: deadline throughput against load level
// per policy (PartialLoading's figure), and each node's busy fraction over
// time for every run at the first load level.
#include "tessera/sim/simulation.hpp"

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
  std::set<std::string> policies;
  for (const auto& r : rows)
    policies.insert(r.policy);
  auto script = out_dir + "/plots.gp";
  std::ofstream gp{script};
  gp << "set datafile separator ','\nset terminal pngcairo size 900,540\nset key outside right\n";
  gp << "set output '" << out_dir << "/deadline_throughput.png'\n";
  gp << "set title '" << s.name << ": requests meeting their deadline per second'\n";
  gp << "set xlabel 'load level (x rate)'\nset ylabel 'met / s'\n";
  gp << "plot ";
  bool first = true;
  for (const auto& p : policies) {
    gp << (first ? "" : ", ") << "'" << out_dir << "/summary.csv' using ($1 eq '" << p
       << "' ? $2 : 1/0):10 with linespoints title '" << p << "'";
    first = false;
  }
  gp << "\n";
  double level = s.workload.load_levels.front();
  for (const auto& p : policies) {
    char stem[160];
    std::snprintf(stem, sizeof stem, "%s/%s_x%.2f", out_dir.c_str(), p.c_str(), level);
    gp << "set output '" << stem << "_busy.png'\n";
    gp << "set title '" << s.name << " (" << p << "): busy fraction per node'\n";
    gp << "set xlabel 'virtual time (ms)'\nset ylabel 'busy fraction'\nset yrange [0:1.05]\n";
    gp << "plot for [n=0:" << (s.nodes.count - 1) << "] '" << stem
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
