// `tessera bench serve`: many models in one memory budget, served end to end,
// against whole-model serving. A coordinator and two workers per system, on
// loopback, over one store; each worker's device budget is a third of the
// bytes of every model. Both systems are swept over offered rates in the same
// run, alternating at each rate; a capacity is the highest rate reached with
// 95% (and, beside it, 90%) of deadlines met; then both are measured at 70% of
// the baseline's capacity.
// docs/benchmarks.md, "serve"; docs/whole-model-serving.md.
#include "bench_report.hpp"
#include "bench_store.hpp"
#include "serve_cluster.hpp"
#include "serve_load.hpp"
#include "serve_sim.hpp"
#include "tessera/core/run_program.hpp"

#include "tessera/core/error.hpp"
#include "tessera/store/group_store.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>
#include <tuple>

namespace tessera::bench {

namespace {

// One system's sweep: rates from a common start, up by a fixed step, until
// a probe meets fewer than 80% of its deadlines. Its capacity at a target is
// the rate before the first probe that missed the target (0 when the first
// did): the highest rate reached with every rate below it meeting the target.

// Samples both systems' device bytes while the probes run.
class peak_sampler {
public:
  peak_sampler(const serve_cluster& a, const serve_cluster& b) {
    thread_ = std::thread{[this, &a, &b] {
      while (!stop_.load()) {
        peak_a_ = std::max(peak_a_.load(), a.max_device_bytes());
        peak_b_ = std::max(peak_b_.load(), b.max_device_bytes());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }};
  }

  ~peak_sampler() {
    stop_ = true;
    thread_.join();
  }

  uint64_t peak_a() const {
    return peak_a_.load();
  }
  uint64_t peak_b() const {
    return peak_b_.load();
  }

private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> peak_a_{0}, peak_b_{0};
  std::thread thread_;
};

void print_probe(const probe_result& r) {
  std::printf(
      "  %-12s %-9s %8.1f %6llu %6.3f %6llu %6llu %6llu %8.1f %8.1f %9.2f\n", r.system.c_str(),
      r.phase.c_str(), r.offered_rps, static_cast<unsigned long long>(r.sent), r.met_fraction(),
      static_cast<unsigned long long>(r.late_ok), static_cast<unsigned long long>(r.errors),
      static_cast<unsigned long long>(r.lost), quantile(r.ok_ms, 0.5), quantile(r.ok_ms, 0.99),
      r.sent == 0 ? 0.0 : r.loaded_bytes / static_cast<double>(r.sent) / 1e6);
  std::string codes, missed;
  for (const auto& [code, n] : r.error_codes)
    codes += " " + code + " " + std::to_string(n);
  for (const auto& [model, n] : r.missed_by_model)
    missed += " " + model + " " + std::to_string(n);
  if (auto t = tail_stages(r, 0.02); t.total_ms > 0.0)
    std::printf("      slowest 2%% of ok answers: %.1f ms = queue %.1f + load %.1f + run %.1f + "
                "the rest %.1f\n",
                t.total_ms, t.queue_ms, t.load_ms, t.run_ms,
                t.total_ms - t.queue_ms - t.load_ms - t.run_ms);
  if (r.added + r.moved + r.dropped > 0)
    std::printf("      placement: %llu replicas added, %llu units moved, %llu replicas dropped\n",
                static_cast<unsigned long long>(r.added), static_cast<unsigned long long>(r.moved),
                static_cast<unsigned long long>(r.dropped));
  if (!missed.empty())
    std::printf("      errors:%s\n      not met:%s\n", codes.empty() ? " none" : codes.c_str(),
                missed.c_str());
  std::fflush(stdout);
}

void write_curve(const std::string& path, std::vector<probe_result> probes) {
  // Each system's sweep in one run of rows, by rate, so that a plot joins them.
  std::stable_sort(probes.begin(), probes.end(), [](const probe_result& a, const probe_result& b) {
    return std::make_tuple(a.system, a.phase != "sweep", a.offered_rps) <
           std::make_tuple(b.system, b.phase != "sweep", b.offered_rps);
  });
  std::ofstream f{path};
  f << "system,phase,offered_rps,sent,met_fraction,late_ok,errors,lost,p50_ms,p99_ms,loaded_mb_per_"
       "request\n";
  for (const auto& r : probes)
    f << r.system << "," << r.phase << "," << r.offered_rps << "," << r.sent << ","
      << r.met_fraction() << "," << r.late_ok << "," << r.errors << "," << r.lost << ","
      << quantile(r.ok_ms, 0.5) << "," << quantile(r.ok_ms, 0.99) << ","
      << (r.sent == 0 ? 0.0 : r.loaded_bytes / static_cast<double>(r.sent) / 1e6) << "\n";
}

// Draws the met-deadline curve of every system (the sweep's probes) as
// DIR/serve-curve.png with gnuplot, where it is installed.
void draw_curve(const std::string& dir, const std::string& csv,
                const std::vector<std::string>& systems) {
  if (!run_program({"gnuplot", "--version"})) {
    std::fprintf(stderr, "note: gnuplot is not installed; no PNG (the CSV is written)\n");
    return;
  }
  auto script = dir + "/serve-curve.gp";
  std::ofstream f{script};
  f << "set terminal pngcairo size 900,560 noenhanced\nset output '" << dir << "/serve-curve.png'\n"
    << "set datafile separator ','\nset key bottom left\nset grid\n"
    << "set xlabel 'offered load (requests/s)'\nset ylabel 'deadlines met'\nset yrange [0:1.02]\n"
    << "set title 'tessera bench serve: deadlines met against offered load'\n"
    << "set arrow from graph 0, first 0.95 to graph 1, first 0.95 nohead dashtype 2\nplot ";
  for (size_t i = 0; i < systems.size(); ++i)
    f << (i == 0 ? "" : ", ") << "'" << csv << "' using (strcol(1) eq '" << systems[i]
      << "' && strcol(2) eq 'sweep' ? $3 : 1/0):5 with linespoints title '" << systems[i] << "'";
  f << "\n";
  f.close();
  if (auto rc = run_program({"gnuplot", script}); !rc || *rc != 0)
    std::fprintf(stderr, "note: gnuplot failed on %s; the CSV is written\n", script.c_str());
  else
    std::printf("plot: %s/serve-curve.png\n", dir.c_str());
}

// A sweep probe's length at `rate`: at least 200 requests (up to 40 s), so
// that 95% is told from 93%; 4 s with --quick.
double probe_span_s(double rate, bool quick) {
  if (quick)
    return 4.0;
  return rate <= 0.0 ? 15.0 : std::max(15.0, std::min(40.0, 200.0 / rate));
}

} // namespace

int run_serve_bench(const bench_options& opts) {
  auto fail = [](const caf::error& err) {
    std::fprintf(stderr, "bench serve: %s\n", describe(err).c_str());
    return 1;
  };
  auto bs = open_bench_store(opts, "serve");
  if (!bs)
    return fail(bs.error());
  serve_workload w;
  uint64_t total = 0;
  for (const auto& e : bs->zoo) {
    w.models.push_back(e.manifest);
    total += parameter_bytes(e.manifest);
  }
  auto written = export_whole_models(*bs->store, w.models);
  if (!written)
    return fail(written.error());
  uint64_t budget = total / 3;
  std::printf(
      "%zu models, %.1f MB of parameters; each worker's device budget is a third: %.1f MB\n",
      w.models.size(), static_cast<double>(total) / 1e6, static_cast<double>(budget) / 1e6);
  std::printf("whole-model files: %zu written now into %s/whole\n", *written,
              bs->store->root().c_str());
  // The frame-sharing family: every member gets each frame, and Tessera
  // serves them from a group defined as `tessera fuse` does.
  const std::vector<std::string> family{"resnet18", "resnet-cars", "resnet-birds", "resnet-ft"};
  std::vector<size_t> frame_item;
  for (size_t i = 0; i < w.models.size(); ++i)
    if (std::find(family.begin(), family.end(), w.models[i].name) != family.end())
      frame_item.push_back(i);
    else
      w.items.push_back({i});
  if (frame_item.size() == family.size())
    w.items.push_back(frame_item);
  cluster_spec ts{"tessera", "blocks", budget, bs->store->root(), nullptr};
  cluster_spec ws{"whole_model", "whole_model", budget, bs->store->root(), nullptr};
  auto tc = start_serve_cluster(ts);
  if (!tc)
    return fail(tc.error());
  auto wc = start_serve_cluster(ws);
  if (!wc)
    return fail(wc.error());
  // Tessera with one idea off at a time (--ablations).
  struct ablation {
    const char* idea;
    void (*tweak)(node_config&);
  };
  const ablation ideas[] = {
      {"reuse_order", [](node_config& c) { c.queue_order = "edf"; }},
      {"fusion", [](node_config& c) { c.fusion = false; }},
      {"placement", [](node_config& c) { c.placement = "any_idle"; }},
      {"streaming", [](node_config& c) { c.streaming = false; }},
  };
  std::vector<serve_cluster> ablated;
  // Without sharing: the same models built to share no parameters (the
  // zoo's `shared = false`), in a store of their own.
  std::optional<bench_store> unshared;
  if (opts.ablations) {
    for (const auto& a : ideas) {
      auto c = start_serve_cluster(
          {std::string{"without_"} + a.idea, "blocks", budget, bs->store->root(), a.tweak});
      if (!c)
        return fail(c.error());
      ablated.push_back(std::move(*c));
    }
    auto u = open_bench_store(opts, "serve", false);
    if (!u)
      return fail(u.error());
    unshared.emplace(std::move(*u));
    auto c = start_serve_cluster({"without_sharing", "blocks", budget, unshared->store->root()});
    if (!c)
      return fail(c.error());
    ablated.push_back(std::move(*c));
  }
  // The Python server a user would write in an afternoon: reported, no goal.
  auto pc = start_python_servers(bs->store->root(), budget);
  if (!pc)
    std::printf("no Python baseline: %s\n", describe(pc.error()).c_str());
  // The group is this run's: a group left in the shared bench store would
  // serve other benches' models (bench fusion's side without a group).
  const std::string group = "serve-resnet-frames";
  store::group_store{bs->store->root()}.remove(group); // a killed run may have left it
  struct group_guard {
    std::string root, name;
    ~group_guard() {
      store::group_store{root}.remove(name);
    }
  } guard{bs->store->root(), group},
      unshared_guard{unshared ? unshared->store->root() : bs->store->root(), group};
  if (frame_item.size() == family.size()) {
    if (auto err = define_group(*tc, group, family))
      return fail(err);
    if (unshared) {
      store::group_store{unshared->store->root()}.remove(group);
      if (auto err = define_group(ablated.back(), group, family))
        return fail(err);
    }
    std::printf("fused group serve-resnet-frames (defined through the coordinator, as `tessera "
                "fuse` does): "
                "resnet18, resnet-cars, resnet-birds, resnet-ft get each frame together\n");
  }
  auto t_service = isolated_service_ms(*tc, w.models, 5);
  if (!t_service)
    return fail(t_service.error());
  auto w_service = isolated_service_ms(*wc, w.models, 5);
  if (!w_service)
    return fail(w_service.error());
  double mean_service = 0.0;
  std::printf(
      "isolated service time, ms (median of 5, model resident; deadlines use the larger):\n");
  for (size_t i = 0; i < w.models.size(); ++i) {
    w.service_ms.push_back(std::max((*t_service)[i], (*w_service)[i]));
    mean_service += w.service_ms.back() / static_cast<double>(w.models.size());
    std::printf("  %-18s tessera %7.2f  whole_model %7.2f\n", w.models[i].name.c_str(),
                (*t_service)[i], (*w_service)[i]);
  }
  const double span = probe_span_s(0.0, opts.quick);
  w.shuffle_s = span / 2.0;
  std::printf("rate sweep: %.0f s per probe, popularity reshuffled every %.1f s, systems alternate "
              "at each rate\n",
              span, w.shuffle_s);
  std::printf("  %-12s %-9s %8s %6s %6s %6s %6s %6s %8s %8s %9s\n", "system", "phase", "req/s",
              "sent", "met", "late", "errors", "lost", "p50 ms", "p99 ms", "MB/req");
  std::vector<probe_result> probes;
  peak_sampler peaks{*tc, *wc};
  std::vector<serve_cluster*> clusters{&*tc, &*wc};
  if (pc)
    clusters.push_back(&*pc);
  size_t first_ablated = clusters.size();
  for (auto& c : ablated)
    clusters.push_back(&c);
  std::vector<rate_sweep> sweep(clusters.size());
  std::vector<double> cpu_factor; // by Tessera's probe
  // From a tenth of two single-executor workers' rate at the mean service
  // time, up by 1.4x (1.8x with --quick), both systems at each rate in turn.
  const double step = opts.quick ? 1.8 : 1.4;
  const double first_rate = 0.1 * 2.0 * 1000.0 / mean_service;
  double rate = first_rate;
  auto all_stopped = [&] {
    for (size_t k = 0; k < clusters.size(); ++k)
      if (!sweep[k].stopped)
        return false;
    return true;
  };
  for (int level = 0; level < 14 && !all_stopped(); ++level, rate *= step) {
    for (size_t k = 0; k < clusters.size(); ++k) {
      if (sweep[k].stopped)
        continue;
      auto r = run_probe(*clusters[k], w, rate, probe_span_s(rate, opts.quick), 100 + level);
      if (!r)
        return fail(r.error());
      r->phase = "sweep";
      print_probe(*r);
      sweep[k].points.emplace_back(rate, r->met_fraction());
      if (k == 0) // Tessera's CPU per unit of executor time, for the simulated twin
        cpu_factor.push_back(r->executor_run_ms > 0.0 ? r->cpu_ms / r->executor_run_ms : 1.0);
      sweep[k].stopped = r->met_fraction() < 0.8;
      probes.push_back(std::move(*r));
    }
  }
  double t_cap = sweep[0].capacity(0.95), w_cap = sweep[1].capacity(0.95);
  double t_cap90 = sweep[0].capacity(0.90), w_cap90 = sweep[1].capacity(0.90);
  std::printf("capacity at 95%% of deadlines met: tessera %.1f req/s, whole_model %.1f req/s\n",
              t_cap, w_cap);
  std::printf("capacity at 90%% of deadlines met: tessera %.1f req/s, whole_model %.1f req/s\n",
              t_cap90, w_cap90);
  double p_cap = pc ? sweep[2].capacity(0.95) : 0.0, p_cap90 = pc ? sweep[2].capacity(0.90) : 0.0;
  if (pc)
    std::printf("the Python server: %.1f req/s at 95%%, %.1f req/s at 90%%\n", p_cap, p_cap90);
  // The comparison point: 70% of the baseline's capacity at 95%, or at 90%
  // where the baseline met 95% at no rate (its misses, not its load, then
  // decide, and 95% has no capacity to take 70% of).
  double reference = w_cap > 0.0 ? w_cap : w_cap90;
  if (reference <= 0.0 && opts.quick) {
    // A quick run checks that the bench works, on a machine other work may
    // share: the comparison runs at the lowest rate, and says so.
    std::printf(
        "quick run: whole_model met 90%% at no rate; the comparison runs at the lowest rate\n");
    reference = sweep[1].points.front().first / 0.7;
  }
  if (reference <= 0.0)
    return fail(
        make_error(ec::backend_error, "whole-model serving met 90% of deadlines at no rate tried"));
  std::printf("comparison at 70%% of whole_model's capacity at %s: %.1f req/s\n",
              w_cap > 0.0 ? "95%" : "90%", 0.7 * reference);
  probe_result at[2];
  for (int k = 0; k < 2; ++k) {
    auto r = run_probe(*clusters[k], w, 0.7 * reference, span, 999);
    if (!r)
      return fail(r.error());
    r->phase = "at_0.7";
    print_probe(*r);
    at[k] = *r;
    probes.push_back(std::move(*r));
  }
  // The simulated twin on the same probes, calibrated from Tessera's cluster
  // (docs/benchmarks.md, "The simulated twin").
  sim_calibration idle;
  idle.service_ms = *t_service;
  idle.budget_bytes = budget;
  if (tc->load_seconds() > 0.0 && tc->loaded_bytes() > 0.0)
    idle.load_mb_per_s = tc->loaded_bytes() / tc->load_seconds() / 1e6;
  if (frame_item.size() == family.size()) {
    auto pass = isolated_frame_ms(*tc, w.models, frame_item, 5);
    if (!pass)
      return fail(pass.error());
    idle.frame_pass_ms = *pass;
  }
  // The CPU the whole process spent per unit of executor run time, at
  // Tessera's busiest working probe (the last that met at least 80%): there
  // the nodes' other threads and the client take their share of the cores
  // the executors run on. At a light probe idle threads dominate neither.
  size_t at_cap = 0;
  while (at_cap + 1 < sweep[0].points.size() && sweep[0].points[at_cap + 1].second >= 0.8)
    ++at_cap;
  double factor = at_cap < cpu_factor.size() ? std::max(1.0, cpu_factor[at_cap]) : 1.0;
  auto busy = idle;
  for (auto& ms : busy.service_ms)
    ms *= factor;
  busy.frame_pass_ms *= factor;
  std::printf("simulated (tessera sim's virtual cluster on the same probes; load %.0f MB/s as the "
              "workers loaded; CPU per executor ms at the busiest probe that met 80%%: %.2f):\n",
              idle.load_mb_per_s, factor);
  std::printf("  %-18s %12s %12s\n", "service, ms", "idle", "CPU");
  for (size_t i = 0; i < w.models.size(); ++i)
    std::printf("  %-18s %12.1f %12.1f\n", w.models[i].name.c_str(), idle.service_ms[i],
                busy.service_ms[i]);
  std::printf("  %-18s %12.1f %12.1f\n", "a frame's pass", idle.frame_pass_ms, busy.frame_pass_ms);
  double s_cap[2] = {0.0, 0.0}, s_cross[2] = {0.0, 0.0};
  for (int k = 0; k < 2; ++k) {
    auto simulated =
        simulated_sweep(w, k == 0 ? idle : busy, first_rate, step, 14, probe_span_s, opts.quick);
    if (!simulated)
      return fail(simulated.error());
    s_cap[k] = simulated->capacity(0.95);
    s_cross[k] = simulated->crossing(0.95);
    std::printf("  calibrated with %s:",
                k == 0 ? "service times on idle nodes" : "CPU per request");
    for (const auto& [r, met] : simulated->points)
      std::printf(" %.1f:%.3f", r, met);
    std::printf("\n    capacity at 95%%: %.1f req/s (crossing %.1f)\n", s_cap[k], s_cross[k]);
  }
  double t_cross = sweep[0].crossing(0.95);
  std::printf("  real: capacity at 95%% %.1f req/s (crossing %.1f)\n", t_cap, t_cross);
  auto error = [&](double simulated) {
    return t_cross > 0.0 ? std::fabs(simulated - t_cross) / t_cross : 0.0;
  };
  auto per_request = [](const probe_result& r) {
    return r.sent == 0 ? 0.0 : r.loaded_bytes / static_cast<double>(r.sent);
  };
  auto dir = opts.plot_dir.empty() ? opts.work_dir : opts.plot_dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto csv = dir + "/serve-curve.csv";
  write_curve(csv, probes);
  std::printf("met-deadline curve: %s\n", csv.c_str());
  if (!opts.plot_dir.empty()) {
    std::vector<std::string> systems;
    for (const auto* c : clusters)
      systems.push_back(c->label);
    draw_curve(dir, csv, systems);
  }
  std::printf("peak device bytes: tessera %.1f MB, whole_model %.1f MB (budget %.1f MB)\n",
              static_cast<double>(peaks.peak_a()) / 1e6, static_cast<double>(peaks.peak_b()) / 1e6,
              static_cast<double>(budget) / 1e6);
  bench_report report{"serve"};
  report.metric("capacity_rps", t_cap);
  report.metric("capacity_rps_whole_model", w_cap);
  // 0 where the baseline met 95% at no rate: the ratio has no finite value.
  report.metric("capacity_vs_whole_model", w_cap > 0.0 ? t_cap / w_cap : 0.0);
  report.metric("capacity_at_90_rps", t_cap90);
  report.metric("capacity_at_90_rps_whole_model", w_cap90);
  report.metric("capacity_at_90_vs_whole_model", w_cap90 > 0.0 ? t_cap90 / w_cap90 : 0.0);
  if (pc) {
    report.metric("capacity_rps_python_server", p_cap);
    report.metric("capacity_vs_python_server", p_cap > 0.0 ? t_cap / p_cap : 0.0);
    report.metric("capacity_at_90_vs_python_server", p_cap90 > 0.0 ? t_cap90 / p_cap90 : 0.0);
  }
  for (size_t k = first_ablated; k < clusters.size(); ++k) {
    const auto& name = clusters[k]->label; // without_IDEA
    double cap = sweep[k].capacity(0.95), cap90 = sweep[k].capacity(0.90);
    std::printf("%s: %.1f req/s at 95%%, %.1f req/s at 90%%\n", name.c_str(), cap, cap90);
    report.metric("capacity_" + name + "_vs_full", t_cap > 0.0 ? cap / t_cap : 0.0);
    report.metric("capacity_at_90_" + name + "_vs_full", t_cap90 > 0.0 ? cap90 / t_cap90 : 0.0);
  }
  double best_whole = 0.0;
  for (const auto& [r, met] : sweep[1].points)
    best_whole = std::max(best_whole, met);
  report.metric("whole_model_best_met_fraction", best_whole);
  report.metric("p50_ms_at_0_7", quantile(at[0].ok_ms, 0.5));
  report.metric("p99_ms_at_0_7", quantile(at[0].ok_ms, 0.99));
  report.metric("p99_ms_at_0_7_whole_model", quantile(at[1].ok_ms, 0.99));
  report.metric("p99_vs_whole_model_at_0_7",
                quantile(at[0].ok_ms, 0.99) / quantile(at[1].ok_ms, 0.99));
  report.metric("met_fraction_at_0_7", at[0].met_fraction());
  report.metric("met_fraction_at_0_7_whole_model", at[1].met_fraction());
  report.metric("bytes_loaded_per_request", per_request(at[0]));
  report.metric("bytes_loaded_per_request_whole_model", per_request(at[1]));
  report.metric("bytes_loaded_per_request_vs_whole_model",
                per_request(at[1]) > 0 ? per_request(at[0]) / per_request(at[1]) : 0.0);
  report.metric("peak_device_bytes_over_budget",
                static_cast<double>(std::max(peaks.peak_a(), peaks.peak_b())) /
                    static_cast<double>(budget));
  report.metric("sim_capacity_rps", s_cross[1]);
  report.metric("sim_capacity_error", error(s_cross[1]));
  report.metric("sim_capacity_error_idle_calibration", error(s_cross[0]));
  report.metric("sim_cpu_per_executor_ms", factor);
  report.metric("sim_capacity_error_by_steps",
                t_cap > 0.0 ? std::fabs(s_cap[1] - t_cap) / t_cap : 0.0);
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench
