// `tessera bench sharing`: the models of each zoo family loaded one after
// another, once on one node where resident blocks are shared, and once with
// sharing disabled (each model on a device tier of its own, so it reads all of
// its blocks). Bytes and time are compared: with sharing, time should fall as
// bytes do. A second part replays a skewed request trace under a tight budget
// and compares the bytes reloaded by cost-aware eviction against LRU.
#include "bench_store.hpp"
#include "load_rig.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

namespace tessera::bench {

namespace {

struct family_run {
  uint64_t bytes_read = 0;
  double ms = 0.0;
};

// Loads the family's models in order; `shared` keeps them on one rig.
caf::expected<family_run> load_family(const store::block_store& st,
                                      const std::vector<const model_manifest*>& models,
                                      bool shared) {
  std::vector<std::unique_ptr<load_rig>> rigs;
  for (size_t i = 0; i < (shared ? 1 : models.size()); ++i) {
    auto rig = load_rig::make(st);
    if (!rig)
      return rig.error();
    rigs.push_back(std::move(*rig));
  }
  family_run out;
  std::vector<std::shared_ptr<backend::loaded_model>> held;
  for (size_t i = 0; i < models.size(); ++i) {
    backend::load_report r;
    auto loaded = rigs[shared ? 0 : i]->exec->load(*models[i], &r);
    if (!loaded)
      return loaded.error();
    held.push_back(*loaded);
    out.bytes_read += r.bytes_read;
    out.ms += r.elapsed_ms;
  }
  return out;
}

// Replays `trace` (model indices): each request loads its model, and unloads
// it at once, so its blocks stay cached until eviction needs the room.
caf::expected<uint64_t> replay(const bench_store& bs, const std::vector<size_t>& trace,
                               uint64_t budget, eviction_policy policy) {
  residency::cpu_arena arena;
  residency::residency_options opts;
  opts.device_budget_bytes = budget;
  opts.policy = policy;
  residency::residency_manager mgr{*bs.store, arena, opts};
  std::vector<model_manifest> catalogue;
  for (const auto& e : bs.zoo)
    catalogue.push_back(e.manifest);
  mgr.learn_sharing_from(catalogue);
  for (auto i : trace) {
    const auto& m = bs.zoo[i].manifest;
    auto l = mgr.load(m.name, residency::blob_refs_of(m));
    if (!l)
      return l.error();
    mgr.unload(*l);
  }
  return mgr.stats().counters.bytes_read;
}

} // namespace

int run_sharing_bench(const bench_options& opts) {
  auto bs = open_bench_store(opts, "sharing");
  if (!bs) {
    std::fprintf(stderr, "bench sharing: %s\n", describe(bs.error()).c_str());
    return 1;
  }
  // Families in zoo order: each base model followed by the models derived from it.
  std::map<std::string, std::vector<const model_manifest*>> families;
  std::vector<std::string> order;
  for (const auto& e : bs->zoo) {
    auto root = e.derived_from.empty() ? e.manifest.name : e.derived_from;
    if (families.count(root) == 0)
      order.push_back(root);
    families[root].push_back(&e.manifest);
  }
  // Compile every skeleton once, so both sides measure loading, not compiling.
  for (const auto& e : bs->zoo)
    if (auto warm = load_family(*bs->store, {&e.manifest}, true); !warm) {
      std::fprintf(stderr, "bench sharing: %s\n", describe(warm.error()).c_str());
      return 1;
    }
  auto rounds = opts.repeat + opts.repeat % 2;
  std::printf("Loading each family in order (median of %u, sides alternating first)\n", rounds);
  std::printf("%-12s %7s %12s %12s %10s %10s %10s %8s\n", "family", "models", "read shared",
              "read alone", "ms shared", "ms alone", "bytes", "time");
  uint64_t total_shared = 0, total_alone = 0;
  double ms_shared = 0, ms_alone = 0;
  for (const auto& root : order) {
    const auto& models = families[root];
    std::vector<double> with, without;
    family_run a, b;
    // Each side's time depends on the order the two run in: with sharing
    // first, ResNet-18's four lone loads took 18-24 ms; with them first,
    // 13-14 ms (2026-12-07, 2 cores), and ViT's -scratch model alone ran 1.4x
    // slower as the second of the pair. The carry-over is not explained yet,
    // so the sides take turns going first, and an even number of rounds gives
    // each side the same share of first places.
    for (uint32_t r = 0; r < rounds; ++r) {
      caf::expected<family_run> x = make_error(ec::none), y = make_error(ec::none);
      if (r % 2 == 0) {
        x = load_family(*bs->store, models, true);
        y = load_family(*bs->store, models, false);
      } else {
        y = load_family(*bs->store, models, false);
        x = load_family(*bs->store, models, true);
      }
      if (!x || !y) {
        std::fprintf(stderr, "bench sharing: %s\n", describe(!x ? x.error() : y.error()).c_str());
        return 1;
      }
      with.push_back(x->ms);
      without.push_back(y->ms);
      a = *x;
      b = *y;
    }
    double mw = median(with), mo = median(without);
    total_shared += a.bytes_read;
    total_alone += b.bytes_read;
    ms_shared += mw;
    ms_alone += mo;
    std::printf("%-12s %7zu %10.1fMB %10.1fMB %10.2f %10.2f %10.3f %8.3f\n", root.c_str(),
                models.size(), a.bytes_read / 1e6, b.bytes_read / 1e6, mw, mo,
                static_cast<double>(a.bytes_read) / static_cast<double>(b.bytes_read), mw / mo);
  }
  double bytes_ratio = static_cast<double>(total_shared) / static_cast<double>(total_alone);
  double time_ratio = ms_shared / ms_alone;

  // Eviction: a Zipf-skewed trace over the whole zoo under a budget that holds
  // about a third of it.
  uint64_t zoo_bytes = 0;
  for (const auto& e : bs->zoo)
    zoo_bytes = std::max<uint64_t>(zoo_bytes, parameter_bytes(e.manifest));
  std::vector<double> weights;
  for (size_t i = 0; i < bs->zoo.size(); ++i)
    weights.push_back(1.0 / static_cast<double>(i + 1));
  // Several seeds, each its own popularity order and trace; the two
  // policies take turns going first.
  const uint64_t seeds = opts.quick ? 2 : 5;
  std::printf("\nEviction over Zipf traces of 400 requests, budget %.1f MB (3 largest models), "
              "%llu seeds\n",
              3.0 * zoo_bytes / 1e6, static_cast<unsigned long long>(seeds));
  std::vector<double> eviction_ratios;
  for (uint64_t seed = 11; seed < 11 + seeds; ++seed) {
    std::vector<size_t> perm(bs->zoo.size());
    for (size_t i = 0; i < perm.size(); ++i)
      perm[i] = i;
    std::mt19937_64 rng{seed};
    std::shuffle(perm.begin(), perm.end(), rng);
    std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
    std::vector<size_t> trace;
    for (int i = 0; i < 400; ++i)
      trace.push_back(perm[pick(rng)]);
    caf::expected<uint64_t> lru = make_error(ec::none), gdsf = make_error(ec::none);
    if (seed % 2 == 1) {
      lru = replay(*bs, trace, 3 * zoo_bytes, eviction_policy::lru);
      gdsf = replay(*bs, trace, 3 * zoo_bytes, eviction_policy::cost_aware);
    } else {
      gdsf = replay(*bs, trace, 3 * zoo_bytes, eviction_policy::cost_aware);
      lru = replay(*bs, trace, 3 * zoo_bytes, eviction_policy::lru);
    }
    if (!lru || !gdsf) {
      std::fprintf(stderr, "bench sharing: %s\n",
                   describe(!lru ? lru.error() : gdsf.error()).c_str());
      return 1;
    }
    std::printf("  seed %llu: bytes read: lru %.1f MB, cost_aware %.1f MB (%.3f)\n",
                static_cast<unsigned long long>(seed), *lru / 1e6, *gdsf / 1e6,
                static_cast<double>(*gdsf) / static_cast<double>(*lru));
    eviction_ratios.push_back(static_cast<double>(*gdsf) / static_cast<double>(*lru));
  }

  bench_report report{"sharing"};
  report.metric("sharing_bytes_ratio", bytes_ratio);
  report.metric("sharing_time_ratio", time_ratio);
  report.metric("sharing_time_over_bytes_ratio", time_ratio / bytes_ratio);
  // Median over the seeds, and the worst seed beside it.
  report.metric("eviction_bytes_read_vs_lru", median(eviction_ratios));
  report.metric("eviction_bytes_read_vs_lru_worst_seed",
                *std::max_element(eviction_ratios.begin(), eviction_ratios.end()));
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench
