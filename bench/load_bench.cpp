// `tessera bench load`: how fast a model becomes ready to run from the block
// store, against torch::jit::load of the same model saved as one TorchScript
// file, and how little a second model of a family reads while the first is
// resident. Both sides read warm page cache; both are measured in this run.
#include "bench_report.hpp"

#include "tessera/core/error.hpp"
#include "tessera/store/atomic_file.hpp"
#include "bench_store.hpp"
#include "load_rig.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "tessera/torch/torchscript_files.hpp"
#include "tessera/zoo/zoo.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>

namespace tessera::bench {

namespace {

namespace fs = std::filesystem;


struct load_sample {
  double ms = 0;
  backend::load_report report;
};

// Loads `m` on `rig`; what the rig already holds is not read again.
caf::expected<load_sample> store_load(load_rig& rig, const model_manifest& m) {
  load_sample s;
  auto loaded = rig.exec->load(m, &s.report);
  if (!loaded)
    return loaded.error();
  s.ms = s.report.elapsed_ms;
  return s;
}

// Loads `m` on a fresh rig: nothing resident.
caf::expected<load_sample> cold_load(const store::block_store& st, const model_manifest& m) {
  auto rig = load_rig::make(st);
  if (!rig)
    return rig.error();
  return store_load(**rig, m);
}

} // namespace

int run_load_bench(const bench_options& opts) {
  auto ts_dir = opts.work_dir + "/torchscript-" + std::to_string(opts.scale);
  fs::create_directories(ts_dir);
  auto bs = open_bench_store(opts, "load");
  if (!bs) {
    std::fprintf(stderr, "bench load: %s\n", describe(bs.error()).c_str());
    return 1;
  }
  auto* st = &*bs->store;
  auto* zoo = &bs->zoo;
  // The models: the zoo's, or those named with --models (imported ones too).
  auto named = models_to_measure(*bs, opts);
  if (!named) {
    std::fprintf(stderr, "bench load: %s\n", describe(named.error()).c_str());
    return 1;
  }
  if (named->models.empty())
    for (const auto& e : *zoo)
      named->models.emplace_back(st, e.manifest);
  std::vector<std::string> files;
  for (const auto& [from, m] : named->models) {
    auto path = ts_dir + "/" + m.name + ".pt";
    if (!fs::exists(path) || !opts.models.empty())
      if (auto err = torch_backend::export_torchscript(*from, m, path)) {
        std::fprintf(stderr, "bench load: %s\n", describe(err).c_str());
        return 1;
      }
    files.push_back(path);
    for (const auto& [id, bytes] : unique_blobs(m))
      files.push_back(from->blobs().path_of(id));
  }
  warm_page_cache(files);

  std::printf("Cold load: nothing resident -> ready to run (median of %u; ms)\n", opts.repeat);
  std::printf("%-20s %10s %10s %12s %9s %14s %9s %9s\n", "model", "size", "jit::load", "tessera",
              "(reading)", "tessera+compile", "speedup", "w/compile");
  std::vector<double> speedups, speedups_compile;
  std::map<std::string, double> jit_ms;
  for (const auto& [from, m] : named->models) {
    auto path = ts_dir + "/" + m.name + ".pt";
    std::vector<double> jit, cold, cold_compile, reading;
    for (uint32_t r = 0; r < opts.repeat; ++r) {
      auto j = torch_backend::time_torchscript_load(path);
      torch_backend::clear_compiled_skeletons();
      auto c1 = cold_load(*from, m); // compiles every skeleton
      auto c2 = cold_load(*from, m); // skeletons compiled, blobs cold
      if (!j || !c1 || !c2) {
        std::fprintf(stderr, "bench load: %s\n",
                     describe(!j ? j.error() : !c1 ? c1.error() : c2.error()).c_str());
        return 1;
      }
      jit.push_back(*j);
      cold_compile.push_back(c1->ms);
      cold.push_back(c2->ms);
      reading.push_back(c2->report.residency_ms);
    }
    double mj = median(jit), mc = median(cold), mcc = median(cold_compile);
    jit_ms[m.name] = mj;
    speedups.push_back(mj / mc);
    speedups_compile.push_back(mj / mcc);
    std::printf("%-20s %8.1fMB %10.1f %12.2f %9.2f %14.2f %8.1fx %8.1fx\n", m.name.c_str(),
                parameter_bytes(m) / 1e6, mj, mc, median(reading), mcc, mj / mc, mj / mcc);
  }
  if (!opts.models.empty()) { // named models: the cold loads alone
    bench_report report{"load"};
    report.metric("cold_load_speedup_vs_jit", median(speedups));
    report.metric("cold_load_with_compile_speedup_vs_jit", median(speedups_compile));
    report.finish(opts);
    return 0;
  }

  std::printf("\nSecond model of a family while the first is resident (median of %u)\n", opts.repeat);
  std::printf("%-14s %-20s %10s %10s %10s %10s %10s %9s\n", "resident", "loaded", "size", "read", "fraction",
              "unshared", "ms", "vs jit");
  std::vector<double> fractions, fraction_errors, shared_speedups;
  for (const auto& e : *zoo) {
    if (e.derived_from.empty())
      continue;
    auto base = std::find_if(zoo->begin(), zoo->end(),
                             [&](const zoo::zoo_entry& x) { return x.manifest.name == e.derived_from; });
    if (base == zoo->end())
      continue;
    std::vector<double> ms;
    load_sample last;
    for (uint32_t r = 0; r < opts.repeat; ++r) {
      auto rig = load_rig::make(*st);
      if (!rig)
        return 1;
      auto first = (*rig)->exec->load(base->manifest);
      auto second = first ? store_load(**rig, e.manifest) : caf::expected<load_sample>{first.error()};
      if (!second) {
        std::fprintf(stderr, "bench load: %s\n", describe(second.error()).c_str());
        return 1;
      }
      ms.push_back(second->ms);
      last = *second;
    }
    auto size = static_cast<double>(last.report.bytes);
    double fraction = static_cast<double>(last.report.bytes_read) / size;
    double unshared = 1.0 - static_cast<double>(shared_bytes(base->manifest, e.manifest)) / size;
    double mm = median(ms);
    fractions.push_back(fraction);
    fraction_errors.push_back(std::fabs(fraction - unshared));
    shared_speedups.push_back(jit_ms[e.manifest.name] / mm);
    std::printf("%-14s %-20s %8.1fMB %8.1fMB %10.4f %10.4f %10.2f %8.1fx\n", base->manifest.name.c_str(),
                e.manifest.name.c_str(), size / 1e6, last.report.bytes_read / 1e6, fraction, unshared, mm,
                jit_ms[e.manifest.name] / mm);
  }

  bench_report report{"load"};
  report.metric("cold_load_speedup_vs_jit", median(speedups));
  report.metric("cold_load_with_compile_speedup_vs_jit", median(speedups_compile));
  report.metric("shared_load_bytes_fraction", median(fractions));
  report.metric("shared_load_bytes_fraction_max_error", *std::max_element(fraction_errors.begin(), fraction_errors.end()));
  report.metric("shared_load_speedup_vs_jit", median(shared_speedups));
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench
