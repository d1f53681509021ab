#include "tessera/sim/validation.hpp"

#include "tessera/core/error.hpp"
#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/realtime_cluster.hpp"

#include <cmath>
#include <cstdio>

namespace tessera::sim {

namespace {

double relative(double simulated, double real) {
  return real == 0.0 ? (simulated == 0.0 ? 0.0 : INFINITY) : std::fabs(simulated - real) / real;
}

} // namespace

caf::expected<validation> validate_against_real(const scenario& s, const std::vector<schedule_model>& models,
                                                const std::string& store_path) {
  if (s.models.source != model_source::zoo)
    return make_error(ec::bad_config, "--validate runs the models for real: the scenario needs "
                                      "models.source = \"zoo\"");
  auto sc = s;
  sc.speedup = 1.0;
  sc.configs.clear();
  auto policy = sc.policies.front();
  auto level = sc.workload.load_levels.front();
  auto requests = make_workload(sc, models, level);
  if (!requests)
    return requests.error();
  // The real run first: before its timed part it measures each model's
  // service time on these nodes, now, and the simulated devices charge that.
  service_times measured;
  auto real = run_cluster_realtime(sc, models, *requests, policy, level, store_path, {},
                                   realtime_backend::torch, &measured);
  if (!real)
    return real.error();
  auto calibrated = models;
  for (auto& m : calibrated)
    set_exec_ms(m, measured.at(m.name));
  auto virt = run_cluster(sc, calibrated, *requests, policy, level);
  if (!virt)
    return virt.error();
  validation v;
  v.service_ms = measured;
  v.simulated = summarize(*virt);
  v.real = summarize(*real);
  v.mean_latency_difference = relative(v.simulated.mean_ms, v.real.mean_ms);
  v.throughput_difference = relative(v.simulated.completed_per_s, v.real.completed_per_s);
  return v;
}

std::string validation_table(const validation& v) {
  std::string out;
  char line[160];
  auto row = [&](const char* name, double simulated, double real) {
    std::snprintf(line, sizeof line, "%-22s %12.2f %12.2f %11.1f%%\n", name, simulated, real,
                  100.0 * relative(simulated, real));
    out += line;
  };
  for (const auto& [model, ms] : v.service_ms) {
    std::snprintf(line, sizeof line, "service time of %s, measured on the idle nodes: %.2f ms\n",
                  model.c_str(), ms);
    out += line;
  }
  std::snprintf(line, sizeof line, "%-22s %12s %12s %12s\n", "", "simulated", "real", "difference");
  out += line;
  row("mean latency (ms)", v.simulated.mean_ms, v.real.mean_ms);
  row("p50 latency (ms)", v.simulated.p50_ms, v.real.p50_ms);
  row("p99 latency (ms)", v.simulated.p99_ms, v.real.p99_ms);
  row("throughput (req/s)", v.simulated.completed_per_s, v.real.completed_per_s);
  row("deadlines met", static_cast<double>(v.simulated.met), static_cast<double>(v.real.met));
  row("failed", static_cast<double>(v.simulated.failed), static_cast<double>(v.real.failed));
  std::snprintf(line, sizeof line, "%s: mean latency and throughput %s within %.0f%%\n",
                v.within_tolerance() ? "PASS" : "FAIL", v.within_tolerance() ? "are" : "are not",
                100.0 * v.tolerance);
  out += line;
  return out;
}

} // namespace tessera::sim
