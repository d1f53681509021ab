// `tessera bench fusion`: K=4 models of a family that share a backbone (base,
// -cars, -birds, -ft), given the same input, run as one fused group against the
// same models run one after another; and four models that share nothing, fused
// against separate. Both sides are measured in this run; medians over repeats.
#include "bench_report.hpp"

#include "bench_measures.hpp"
#include "bench_store.hpp"
#include "fusion_serving.hpp"
#include "load_rig.hpp"
#include "tessera/backend/fused_group.hpp"
#include "tessera/core/error.hpp"
#include "tessera/zoo/families.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace tessera::bench {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

// Every load in this bench copies blobs into the rig's arena, so a rig's
// used_bytes is memory that rig alone holds (as on a GPU).
residency::residency_options copy_mode() {
  residency::residency_options o;
  o.mode = load_mode::copy;
  o.device_budget_bytes = 8ull << 30;
  return o;
}

struct family_result {
  std::string family;
  double separate_ms = 0, fused_ms = 0;
  double speedup = 0;      ///< median over rounds of separate / fused
  double member_ratio = 0; ///< one member: its sub-DAG from the group / its own model
  uint64_t separate_params = 0, shared_params = 0, fused_params = 0;
  uint64_t separate_activations = 0, fused_activations = 0;
  fusion_savings savings;

  uint64_t separate_peak() const {
    return separate_params + separate_activations;
  }
  uint64_t shared_peak() const {
    return shared_params + separate_activations;
  }
  uint64_t fused_peak() const {
    return fused_params + fused_activations;
  }
};

// The models run separately, each in its own rig (its own copy of its
// parameters, like separate deployments), and as one group in another rig.
class fusion_rigs {
public:
  static caf::expected<fusion_rigs> make(const store::block_store& st,
                                         const std::vector<model_manifest>& members,
                                         const fused_plan& plan) {
    fusion_rigs r;
    for (const auto& m : members) {
      auto rig = load_rig::make(st, copy_mode());
      if (!rig)
        return rig.error();
      auto loaded = (*rig)->exec->load(m);
      if (!loaded)
        return loaded.error();
      r.separate_.push_back(std::move(*rig));
      r.models_.push_back(std::move(*loaded));
    }
    auto rig = load_rig::make(st, copy_mode());
    if (!rig)
      return rig.error();
    auto group = backend::load_group(*(*rig)->exec, plan);
    if (!group)
      return group.error();
    r.fused_ = std::move(*rig);
    r.group_ = std::move(*group);
    return r;
  }

  // Runs every model once, one after another; returns the total time and
  // the largest activation peak of one model.
  caf::expected<std::pair<double, uint64_t>> run_separate(const std::vector<tensor_buffer>& in) {
    uint64_t peak = 0;
    auto start = clock_type::now();
    for (size_t i = 0; i < models_.size(); ++i) {
      std::vector<uint32_t> all(models_[i]->manifest().outputs.size());
      for (uint32_t o = 0; o < all.size(); ++o)
        all[o] = o;
      backend::run_stats stats;
      auto out = separate_[i]->exec->run_outputs(*models_[i], in, all, &stats);
      if (!out)
        return out.error();
      peak = std::max(peak, stats.peak_value_bytes);
    }
    return std::make_pair(ms_since(start), peak);
  }

  caf::expected<std::pair<double, uint64_t>>
  run_fused(const std::vector<tensor_buffer>& in, const std::vector<std::string>& members = {}) {
    backend::run_stats stats;
    auto start = clock_type::now();
    auto out = backend::run_group(*fused_->exec, *group_, in, members, &stats);
    if (!out)
      return out.error();
    return std::make_pair(ms_since(start), stats.peak_value_bytes);
  }

  caf::expected<double> run_one_alone(size_t i, const std::vector<tensor_buffer>& in) {
    auto start = clock_type::now();
    auto out = separate_[i]->exec->run(*models_[i], in);
    if (!out)
      return out.error();
    return ms_since(start);
  }

  uint64_t separate_bytes() const {
    uint64_t total = 0;
    for (const auto& rig : separate_)
      total += rig->residency->stats().device.used_bytes;
    return total;
  }

  uint64_t fused_bytes() const {
    return fused_->residency->stats().device.used_bytes;
  }

private:
  std::vector<std::unique_ptr<load_rig>> separate_;
  std::vector<std::shared_ptr<backend::loaded_model>> models_;
  std::unique_ptr<load_rig> fused_;
  std::shared_ptr<backend::loaded_group> group_;
};

// Parameter bytes when the same models are loaded separately into one rig,
// where the residency manager already shares their common blobs.
caf::expected<uint64_t> shared_residency_bytes(const store::block_store& st,
                                               const std::vector<model_manifest>& members) {
  auto rig = load_rig::make(st, copy_mode());
  if (!rig)
    return rig.error();
  std::vector<std::shared_ptr<backend::loaded_model>> held;
  for (const auto& m : members) {
    auto loaded = (*rig)->exec->load(m);
    if (!loaded)
      return loaded.error();
    held.push_back(std::move(*loaded));
  }
  return (*rig)->residency->stats().device.used_bytes;
}

caf::expected<family_result> measure_members(const store::block_store& st, const std::string& label,
                                             const std::vector<model_manifest>& members,
                                             uint32_t repeat) {
  auto plan = plan_fusion(label, members);
  if (!plan)
    return plan.error();
  auto rigs = fusion_rigs::make(st, members, *plan);
  if (!rigs)
    return rigs.error();
  family_result r;
  r.family = label;
  r.savings = plan->savings;
  r.separate_params = rigs->separate_bytes();
  r.fused_params = rigs->fused_bytes();
  auto shared = shared_residency_bytes(st, members);
  if (!shared)
    return shared.error();
  r.shared_params = *shared;
  std::vector<tensor_buffer> in{random_tensor(with_batch(members[0].inputs[0].spec, 1), 7)};
  // Each round runs both sides back to back, in alternating order, and the
  // ratios are taken per round: load from other processes then cancels out.
  std::vector<double> sep, fused, one, alone, ratios, member_ratios;
  for (uint32_t i = 0; i < repeat + 2; ++i) { // two warm-up rounds
    caf::expected<std::pair<double, uint64_t>> s{caf::error{}}, f{caf::error{}};
    if (i % 2 == 0) {
      s = rigs->run_separate(in);
      f = rigs->run_fused(in);
    } else {
      f = rigs->run_fused(in);
      s = rigs->run_separate(in);
    }
    auto o = rigs->run_fused(in, {members[1].name});
    auto a = rigs->run_one_alone(1, in);
    if (!s || !f || !o || !a)
      return !s ? s.error() : !f ? f.error() : !o ? o.error() : a.error();
    if (i < 2)
      continue;
    sep.push_back(s->first);
    fused.push_back(f->first);
    one.push_back(o->first);
    alone.push_back(*a);
    ratios.push_back(s->first / f->first);
    member_ratios.push_back(o->first / *a);
    r.separate_activations = s->second;
    r.fused_activations = f->second;
  }
  r.separate_ms = median(sep);
  r.fused_ms = median(fused);
  r.speedup = median(ratios);
  r.member_ratio = median(member_ratios);
  return r;
}

caf::expected<family_result> measure(const bench_store& bs, const std::string& label,
                                     const std::vector<std::string>& names, uint32_t repeat) {
  std::vector<model_manifest> members;
  for (const auto& n : names) {
    const auto* e = bs.find(n);
    if (e == nullptr)
      return make_error(ec::unknown_model, "bench fusion: no zoo model " + n);
    members.push_back(e->manifest);
  }
  return measure_members(*bs.store, label, members, repeat);
}

void print_header(uint32_t repeat) {
  std::printf(
      "Fused groups vs the same models run one after another, batch 1 (median of %u; ms, MB)\n",
      repeat);
  std::printf("peak = parameter bytes resident + the largest live node outputs during the run\n");
  std::printf("%-16s %11s %7s %10s %9s %9s %10s %10s %10s %8s %9s\n", "group", "nodes", "MACs",
              "separate", "fused", "speedup", "peak sep", "peak shrd", "peak fused", "saving",
              "1-member");
}

void print_row(const family_result& r) {
  std::printf("%-16s %6llu>%-4llu %6.2fx %10.1f %9.1f %8.2fx %10.1f %10.1f %10.1f %8.3f %9.2f\n",
              r.family.c_str(), static_cast<unsigned long long>(r.savings.separate_nodes),
              static_cast<unsigned long long>(r.savings.fused_nodes),
              r.savings.separate_macs / r.savings.fused_macs, r.separate_ms, r.fused_ms, r.speedup,
              r.separate_peak() / 1e6, r.shared_peak() / 1e6, r.fused_peak() / 1e6,
              1.0 - static_cast<double>(r.fused_peak()) / r.separate_peak(), r.member_ratio);
}

} // namespace

caf::expected<double> fused_speedup(const store::block_store& st, const std::string& label,
                                    const std::vector<model_manifest>& members, uint32_t repeat) {
  auto r = measure_members(st, label, members, repeat);
  if (!r)
    return r.error();
  print_header(repeat);
  print_row(*r);
  return r->speedup;
}

int run_fusion_bench(const bench_options& opts) {
  auto bs = open_bench_store(opts, "fusion");
  if (!bs) {
    std::fprintf(stderr, "bench fusion: %s\n", describe(bs.error()).c_str());
    return 1;
  }
  if (!opts.models.empty()) { // the named models as one group, and nothing else
    auto named = models_to_measure(*bs, opts);
    if (!named) {
      std::fprintf(stderr, "bench fusion: %s\n", describe(named.error()).c_str());
      return 1;
    }
    std::vector<model_manifest> members;
    bool one_store = true;
    for (const auto& [st, m] : named->models) {
      members.push_back(m);
      one_store = one_store && st == named->models.front().first;
    }
    if (members.size() < 2 || !one_store) {
      std::fprintf(stderr, "bench fusion: --models needs two or more models of one store\n");
      return 1;
    }
    auto s = fused_speedup(*named->models.front().first, "named", members, opts.repeat);
    if (!s) {
      std::fprintf(stderr, "bench fusion: %s\n", describe(s.error()).c_str());
      return 1;
    }
    bench_report report{"fusion"};
    report.metric("fused_speedup", *s);
    report.finish(opts);
    return 0;
  }
  print_header(opts.repeat);
  bench_report report{"fusion"};
  std::vector<double> speedups, savings, shared_savings, member_ratios;
  for (const auto& info : zoo::family_infos()) {
    const auto& f = info.family;
    auto r = measure(*bs, f + "-k4", {info.base_name, f + "-cars", f + "-birds", f + "-ft"},
                     opts.repeat);
    if (!r) {
      std::fprintf(stderr, "bench fusion: %s\n", describe(r.error()).c_str());
      return 1;
    }
    print_row(*r);
    speedups.push_back(r->speedup);
    savings.push_back(1.0 - static_cast<double>(r->fused_peak()) / r->separate_peak());
    shared_savings.push_back(1.0 - static_cast<double>(r->fused_peak()) / r->shared_peak());
    member_ratios.push_back(r->member_ratio);
    report.metric("fused_speedup_" + f, r->speedup);
    report.metric("fused_memory_saving_" + f, savings.back());
  }
  auto unrelated = measure(*bs, "unrelated-k4",
                           {"resnet18", "resnet-scratch", "mobilenetv2", "vit-tiny"}, opts.repeat);
  if (!unrelated) {
    std::fprintf(stderr, "bench fusion: %s\n", describe(unrelated.error()).c_str());
    return 1;
  }
  print_row(*unrelated);
  std::printf(
      "\n(peak shrd: the same models loaded separately into one residency manager, which\n"
      " already shares their common blobs; 1-member: one member's sub-DAG run from the group\n"
      " over the same model run alone)\n");
  // The serving path: the same family served through the scheduler and an
  // executor actor, with the group defined (passes) and without (one model a job).
  std::vector<std::string> family{"resnet18", "resnet-cars", "resnet-birds", "resnet-ft"};
  constexpr unsigned frames = 8;
  auto serving = measure_serving(*bs, family, frames, opts.repeat);
  auto own = serving ? measure_serving(*bs, family, frames, opts.repeat, true) : serving;
  if (!serving || !own) {
    std::fprintf(stderr, "bench fusion: serving: %s\n",
                 describe(!serving ? serving.error() : own.error()).c_str());
    return 1;
  }
  std::printf("\nServed through the scheduler and one executor actor: %u frames x %zu resnet models,\n"
              "all requests sent at once (median of %u; ms)\n",
              frames, family.size(), opts.repeat);
  std::printf("%-16s %10s %9s %9s %15s\n", "", "separate", "fused", "speedup", "requests/pass");
  std::printf("%-16s %10.1f %9.1f %9.2f %15.2f\n", "resnet-k4", serving->separate_ms, serving->fused_ms,
              serving->speedup, serving->members_per_pass);
  std::printf("%-16s %10.1f %9.1f %9.2f %15.2f\n", "  own inputs", own->separate_ms, own->fused_ms,
              own->speedup, own->members_per_pass);
  std::printf(
      "(separate: the same members one after another from the same residency manager,\n"
      " which shares their blobs; own inputs: each member's request has an input of its own)\n");
  // Fusion's own gain: the separate side already shares every common blob.
  report.metric("fused_speedup_vs_shared_residency", serving->speedup);
  report.metric("fused_speedup_vs_shared_residency_own_inputs", own->speedup);
  report.metric("served_fused_speedup", serving->speedup);
  report.metric("served_requests_per_pass", serving->members_per_pass);
  report.metric("fused_speedup", median(speedups));
  report.metric("fused_memory_saving", median(savings));
  report.metric("fused_memory_saving_vs_shared_residency", median(shared_savings));
  report.metric("single_member_ratio", median(member_ratios));
  report.metric("unrelated_fused_slowdown", 1.0 / unrelated->speedup);
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench
