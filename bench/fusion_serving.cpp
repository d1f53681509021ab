#include "fusion_serving.hpp"

#include "bench_report.hpp"
#include "load_rig.hpp"
#include "tessera/actors/executor.hpp"
#include "tessera/actors/scheduler.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/group_store.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

namespace tessera::bench {

namespace {

using namespace tessera::actors;
using clock_type = std::chrono::steady_clock;

constexpr const char* group_name = "bench-serving-group";

class serving_rig {
public:
  serving_rig(const bench_store& bs, std::vector<model_manifest> models)
      : store_(*bs.store), models_(std::move(models)), groups_(store_.root()) {
    groups_.remove(group_name); // a run that was killed may have left it
    cfg_.set("scheduler.max-threads", 1);
    cfg_.set("scheduler.policy", caf::atom("sharing"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
  }

  ~serving_rig() {
    groups_.remove(group_name);
    if (sys_) {
      caf::anon_send_exit(sched_, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(exec_, caf::exit_reason::user_shutdown);
      sys_->await_all_actors_done();
    }
  }

  caf::error start() {
    // Another group over these models would serve the side without ours.
    for (const auto& g : groups_.list())
      for (const auto& m : models_)
        if (g.name != group_name &&
            std::find(g.models.begin(), g.models.end(), model_ref(m)) != g.models.end())
          return make_error(ec::already_exists, "the bench store defines group \"" + g.name +
                                                    "\" over " + model_ref(m) +
                                                    "; remove it (tessera fuse --remove " + g.name +
                                                    ")");
    residency::residency_options opts;
    opts.device_budget_bytes = 8ull << 30;
    residency_ = std::make_unique<residency::residency_manager>(store_, arena_, opts);
    auto exec = torch_backend::make_torch_executor({}, *residency_, store_.skeletons());
    if (!exec)
      return exec.error();
    auto deps = std::make_shared<executor_deps>();
    deps->name = "bench/cpu/0";
    deps->exec = std::move(*exec);
    deps->residency = residency_.get();
    deps->store = &store_;
    exec_ = spawn_executor(*sys_, deps);
    sched_ = spawn_scheduler(*sys_, {exec_});
    return {};
  }

  // Defines the group, or removes it, and tells the executor (as a node's
  // registry would).
  caf::error define(bool on) {
    caf::error err;
    if (on) {
      group_definition def{group_name, {}, {}};
      for (const auto& m : models_)
        def.models.push_back(model_ref(m));
      err = groups_.put(def);
    } else {
      groups_.remove(group_name);
    }
    caf::anon_send(exec_, actors::catalog_atom::value,
                   actors::catalog_ptr{store::read_catalog(store_)});
    return err;
  }

  /// Sends every job at once and waits for every answer; the elapsed ms.
  caf::expected<double> serve(const std::vector<infer_job>& jobs) {
    caf::scoped_actor self{*sys_};
    auto start = clock_type::now();
    std::vector<decltype(self->request(sched_, std::chrono::seconds(600), run_atom::value, jobs.front()))> handles;
    for (const auto& j : jobs)
      handles.push_back(self->request(sched_, std::chrono::seconds(600), run_atom::value, j));
    caf::error failed;
    for (auto& h : handles)
      h.receive([](infer_outcome&) {}, [&](caf::error& err) { failed = std::move(err); });
    if (failed)
      return failed;
    return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
  }

  caf::expected<executor_state> status() {
    caf::scoped_actor self{*sys_};
    caf::expected<executor_state> out = make_error(ec::none);
    self->request(exec_, std::chrono::seconds(60), status_atom::value)
      .receive([&](executor_state& s) { out = std::move(s); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  /// Each frame's requests, one per member: on the same input, or with
  /// `own_inputs` on an input of each member's own.
  std::vector<infer_job> jobs_for(unsigned frames, uint64_t seed, bool own_inputs = false) const {
    std::vector<infer_job> jobs;
    for (unsigned f = 0; f < frames; ++f) {
      auto frame = random_tensor(with_batch(models_.front().inputs[0].spec, 1), seed + f);
      uint64_t k = 0;
      for (const auto& m : models_) {
        if (own_inputs)
          frame =
              random_tensor(with_batch(models_.front().inputs[0].spec, 1), (seed + f) * 131 + ++k);
        infer_job j;
        j.model = m.name;
        j.version = m.version;
        j.input_names = {m.inputs[0].name};
        j.inputs = {frame};
        j.arrival = clock_type::now();
        jobs.push_back(std::move(j));
      }
    }
    return jobs;
  }

  /// One side of a round: (un)defines the group, brings what it needs in
  /// (one request per model, not timed), then times the frames.
  caf::expected<double> side(bool fused, unsigned frames, uint64_t seed, bool own_inputs) {
    if (auto err = define(fused))
      return err;
    // The executor sees a change to the groups folder only once its time
    // has settled (a second), at a job: warm up until it holds the group, or
    // none, as this side needs. Timing before that let the side without the
    // group run fused passes (2026-12-07: "separate" at 0.5 of its own time).
    auto until = clock_type::now() + std::chrono::seconds(10);
    for (;;) {
      for (const auto& j : jobs_for(1, seed + 1000))
        if (auto warm = serve({j}); !warm)
          return warm.error();
      auto st = status();
      if (!st)
        return st.error();
      if (st->groups.empty() != fused)
        break;
      if (clock_type::now() > until)
        return make_error(ec::backend_error, std::string{"the executor did not "} +
                                                 (fused ? "take up" : "let go of") +
                                                 " the group within 10 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return serve(jobs_for(frames, seed, own_inputs));
  }

private:
  const store::block_store& store_;
  std::vector<model_manifest> models_;
  store::group_store groups_;
  caf::actor_system_config cfg_;
  residency::cpu_arena arena_;
  std::unique_ptr<residency::residency_manager> residency_;
  std::unique_ptr<caf::actor_system> sys_;
  executor_actor exec_;
  scheduler_actor sched_;
};

} // namespace

caf::expected<serving_result> measure_serving(const bench_store& bs,
                                              const std::vector<std::string>& models,
                                              unsigned frames, unsigned rounds, bool own_inputs) {
  std::vector<model_manifest> manifests;
  for (const auto& name : models) {
    const auto* e = bs.find(name);
    if (e == nullptr)
      return make_error(ec::unknown_model, "bench fusion: no zoo model \"" + name + "\"");
    manifests.push_back(e->manifest);
  }
  serving_rig rig{bs, manifests};
  if (auto err = rig.start())
    return err;
  std::vector<double> separate, fused, ratios;
  uint64_t passes = 0;
  uint64_t served = 0;
  for (unsigned r = 0; r <= rounds; ++r) { // round 0 warms up
    double times[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      bool with_group = (r + k) % 2 == 0;
      auto before = rig.status();
      if (!before)
        return before.error();
      auto t = rig.side(with_group, frames, 100 * r, own_inputs);
      if (!t)
        return t.error();
      auto after = rig.status();
      if (!after)
        return after.error();
      times[with_group ? 1 : 0] = *t;
      if (with_group && r > 0) {
        passes += after->served - before->served - models.size(); // less the warm-up requests
        served += static_cast<uint64_t>(frames) * models.size();
      }
    }
    if (r == 0)
      continue;
    separate.push_back(times[0]);
    fused.push_back(times[1]);
    ratios.push_back(times[0] / times[1]);
  }
  serving_result out;
  out.separate_ms = median(separate);
  out.fused_ms = median(fused);
  out.speedup = median(ratios);
  out.members_per_pass = passes == 0 ? 0.0 : static_cast<double>(served) / passes;
  return out;
}

} // namespace tessera::bench
