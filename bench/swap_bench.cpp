// `tessera bench swap`: a model run fully resident (parameters loaded before the
// clock starts) against the same model streamed block by block at budgets of
// 1/2, 1/3 and 1/5 of its size, and once at 1/3 without prefetching. CPU, copy
// mode (every streamed block is read into the arena, as onto a discrete GPU);
// one more run at 1/3 in place, for comparison. Each streamed configuration has
// a device of exactly its budget, so a run starts with at most that much of the
// model resident. Every streamed run follows a resident run in the same round;
// the metrics are the medians of those pairs' ratios (a burst of load from
// other processes hits both runs of a pair alike), and the table also shows
// the fastest runs' ratio. docs/swapping.md.
#include "bench_report.hpp"

#include "bench_measures.hpp"
#include "bench_store.hpp"
#include "load_rig.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/node_config.hpp"
#include "tessera/torch/streaming.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace tessera::bench {

namespace {

using clock_type = std::chrono::steady_clock;

double fastest(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end());
}

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

residency::residency_options copy_mode(uint64_t budget) {
  residency::residency_options o;
  o.mode = load_mode::copy;
  o.device_budget_bytes = budget;
  return o;
}

// One streamed configuration: its own device of `budget` bytes.
struct stream_config {
  std::string label;
  uint64_t divisor = 0;
  bool prefetch = true;
  bool in_place = false; ///< blocks used from the mapped store (CPU, unified memory)
  std::unique_ptr<residency::cpu_arena> arena;
  std::unique_ptr<residency::residency_manager> residency;
  std::unique_ptr<torch_backend::streaming_executor> exec;
  std::shared_ptr<torch_backend::streamed_model> model;
  std::vector<double> ms;
  /// Each streamed run over the resident run just before it: paired, so that
  /// a burst of load from other processes hits both sides of a ratio alike.
  std::vector<double> ratio;
  /// The resident runs paired with this configuration's runs. The table's
  /// fastest ratio takes the fastest of each side over as many runs: the
  /// fastest of all resident runs (six configurations' worth) would be the
  /// minimum of six times as many samples, and flatter the resident side.
  std::vector<double> base_ms;
  std::vector<double> read_fraction; ///< bytes read per run / model bytes
  std::vector<double> wait_fraction; ///< time waiting for blocks / run time
  std::vector<double> compute_ms;    ///< the blocks' compute time per run
};

/// The configuration's fastest run over the fastest of its paired resident runs.
double fastest_ratio(const stream_config& c) {
  return fastest(c.ms) / fastest(c.base_ms);
}

/// Median over rounds of one configuration's run over another's in the same round.
double paired_gain(const stream_config& slower, const stream_config& faster) {
  std::vector<double> r;
  for (size_t i = 0; i < std::min(slower.ms.size(), faster.ms.size()); ++i)
    r.push_back(slower.ms[i] / faster.ms[i]);
  return median(r);
}

caf::error make_stream(stream_config& c, const store::block_store& st, const model_manifest& m) {
  auto budget = parameter_bytes(m) / c.divisor;
  auto mode = copy_mode(budget);
  if (c.in_place)
    mode.mode = load_mode::in_place;
  // Freed blocks keep their pages as on a node with the default device cache
  // (decision 33): a GPU of this budget keeps its memory too.
  c.arena = std::make_unique<residency::cpu_arena>(0, 64u << 20, node_config{}.device_cache_bytes);
  c.residency = std::make_unique<residency::residency_manager>(st, *c.arena, mode);
  auto exec = torch_backend::make_streaming_executor({}, *c.residency, st.skeletons());
  if (!exec)
    return exec.error();
  c.exec = std::move(*exec);
  torch_backend::stream_options so;
  so.budget_bytes = budget;
  so.prefetch = c.prefetch;
  auto model = c.exec->prepare(m, so);
  if (!model)
    return model.error();
  c.model = std::move(*model);
  return {};
}

struct model_result {
  std::string model;
  double resident_ms = 0.0;
  double resident_fastest_ms = 0.0;
  std::vector<std::unique_ptr<stream_config>> streams;
  std::vector<std::string> refused;
};

// Measures one model: resident, and each streamed configuration that its
// largest block allows (the others are refused and listed).
caf::expected<model_result> measure(const store::block_store& st, const model_manifest& m,
                                    const bench_options& opts) {
  model_result out;
  out.model = m.name;
  auto rig = load_rig::make(st, copy_mode(8ull << 30));
  if (!rig)
    return rig.error();
  auto loaded = (*rig)->exec->load(m);
  if (!loaded)
    return loaded.error();
  struct wanted {
    const char* label;
    uint64_t divisor;
    bool prefetch;
    bool in_place = false;
  };
  // "1/1, cached": a budget of the whole model, so after the first run every
  // block is found resident: what streaming costs apart from reading.
  for (auto w : {wanted{"1/1, cached", 1, true}, wanted{"1/2", 2, true}, wanted{"1/3", 3, true}, wanted{"1/5", 5, true},
                 wanted{"1/3, no prefetch", 3, false}, wanted{"1/3, in place", 3, true, true}}) {
    auto c = std::make_unique<stream_config>();
    c->label = w.label;
    c->divisor = w.divisor;
    c->prefetch = w.prefetch;
    c->in_place = w.in_place;
    if (auto err = make_stream(*c, st, m)) {
      if (code_of(err) != ec::out_of_memory)
        return err;
      out.refused.push_back(std::string{w.label} + ": " + describe(err));
      continue;
    }
    out.streams.push_back(std::move(c));
  }
  std::vector<tensor_buffer> in{random_tensor(with_batch(m.inputs[0].spec, 1), 7)};
  std::vector<double> resident;
  auto model_bytes = static_cast<double>(parameter_bytes(m));
  // Untimed rounds first: LibTorch's first calls and the arena's first fills
  // are slower. In each round every configuration runs right after a resident run.
  auto run_resident = [&]() -> caf::expected<double> {
    auto start = clock_type::now();
    auto r = (*rig)->exec->run(**loaded, in);
    if (!r)
      return r.error();
    return ms_since(start);
  };
  // The metrics are medians of paired ratios, whose spread is that of two
  // runs: 2 * --repeat + 1 timed rounds (11 at the default), so that three
  // runs of the bench agree to a few percent on this 2-core machine.
  auto rounds = 2 * std::max<uint32_t>(opts.repeat, 1) + 1;
  for (uint32_t round = 0; round < rounds + 2; ++round) {
    bool timed = round >= 2;
    for (auto& c : out.streams) {
      auto base = run_resident();
      if (!base)
        return base.error();
      torch_backend::stream_stats st;
      auto start = clock_type::now();
      auto s = c->exec->run(*c->model, in, &st);
      auto ms = ms_since(start);
      if (!s)
        return s.error();
      if (!timed)
        continue;
      resident.push_back(*base);
      c->ms.push_back(ms);
      c->ratio.push_back(ms / *base);
      c->base_ms.push_back(*base);
      c->read_fraction.push_back(static_cast<double>(st.bytes_read) / model_bytes);
      c->wait_fraction.push_back(st.wait_ms / st.elapsed_ms);
      double compute = 0.0;
      for (const auto& b : st.blocks)
        compute += b.compute_ms;
      c->compute_ms.push_back(compute);
    }
  }
  out.resident_ms = median(resident);
  out.resident_fastest_ms = fastest(resident);
  (*rig)->exec->unload(*loaded);
  return out;
}

void print(const model_result& r) {
  std::printf("%s: fully resident %.2f ms (median), %.2f ms (fastest)\n", r.model.c_str(),
              r.resident_ms, r.resident_fastest_ms);
  std::printf("  %-18s %10s %10s %8s %9s %12s %9s %11s\n", "budget", "ms", "fastest", "ratio",
              "fastest", "read/model", "waiting", "compute ms");
  for (const auto& c : r.streams)
    std::printf("  %-18s %10.2f %10.2f %8.3f %9.3f %12.2f %8.1f%% %11.2f\n", c->label.c_str(),
                median(c->ms), fastest(c->ms), median(c->ratio), fastest_ratio(*c),
                median(c->read_fraction), 100.0 * median(c->wait_fraction), median(c->compute_ms));
  std::printf("  (ratio, which the metrics report: median over rounds of each streamed run /\n"
              "   the resident run just before it; fastest: the fastest streamed run / the\n"
              "   fastest of the resident runs paired with it, each the fastest of as many)\n");
  for (const auto& why : r.refused)
    std::printf("  refused %s\n", why.c_str());
}

const stream_config* find(const model_result& r, const std::string& label) {
  for (const auto& c : r.streams)
    if (c->label == label)
      return c.get();
  return nullptr;
}

} // namespace

caf::expected<double> stream_latency_ratio_1_3(const store::block_store& st,
                                               const model_manifest& m, const bench_options& opts) {
  auto r = measure(st, m, opts);
  if (!r)
    return r.error();
  print(*r);
  const auto* c = find(*r, "1/3");
  if (c == nullptr)
    return make_error(ec::out_of_memory,
                      "model \"" + m.name + "\" does not stream in a third of its bytes");
  return median(c->ratio);
}

int run_swap_bench(const bench_options& opts) {
  auto bs = open_bench_store(opts, "swap");
  if (!bs) {
    std::fprintf(stderr, "bench swap: %s\n", describe(bs.error()).c_str());
    return 1;
  }
  bench_report report{"swap"};
  // ResNet-18, the zoo's largest model, gives the metrics; ViT-Tiny
  // (blocks of one encoder layer, 8% each) is reported beside it with "vit_".
  // Models named with --models are measured instead, each with its name first.
  auto named = models_to_measure(*bs, opts);
  if (!named) {
    std::fprintf(stderr, "bench swap: %s\n", describe(named.error()).c_str());
    return 1;
  }
  if (named->models.empty())
    for (const char* name : {"resnet18", "vit-tiny"})
      named->models.emplace_back(&*bs->store, bs->find(name)->manifest);
  for (const auto& [st, m] : named->models) {
    const auto& name = m.name;
    auto r = measure(*st, m, opts);
    if (!r) {
      std::fprintf(stderr, "bench swap: %s: %s\n", name.c_str(), describe(r.error()).c_str());
      return 1;
    }
    print(*r);
    std::string prefix = !opts.models.empty() ? name + "_" : name == "resnet18" ? "" : "vit_";
    for (const auto& [label, key] : {std::pair{"1/2", "latency_ratio_budget_1_2"},
                                     std::pair{"1/3", "latency_ratio_budget_1_3"},
                                     std::pair{"1/5", "latency_ratio_budget_1_5"}})
      if (const auto* c = find(*r, label))
        report.metric(prefix + key, median(c->ratio));
    const auto* with = find(*r, "1/3");
    const auto* without = find(*r, "1/3, no prefetch");
    if (with != nullptr && without != nullptr)
      report.metric(prefix + "prefetch_gain", paired_gain(*without, *with));
    if (const auto* mapped = find(*r, "1/3, in place"))
      report.metric(prefix + "latency_ratio_budget_1_3_in_place", median(mapped->ratio));
    if (const auto* cached = find(*r, "1/1, cached"))
      report.metric(prefix + "latency_ratio_all_cached", median(cached->ratio));
  }
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench
