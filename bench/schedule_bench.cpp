// `tessera bench schedule`: the real scheduler actor, in virtual time under
// CAF's deterministic test coordinator, against a simulated device whose
// per-model compute times are measured on this CPU and whose load bandwidth and
// budget are an edge box's. A seeded Poisson workload over the zoo (Zipf
// popularity, deadlines of a few service times) runs at three load levels with
// each queue order: reuse-aware, EDF and FIFO, and each order's capacity (the
// highest load with 95% of deadlines met) is searched. A second part compares the
// bottom-sharing dynamic program with the greedy heuristic on instances in the
// program's class.
#include "bench_report.hpp"
#include "bench_store.hpp"
#include "load_rig.hpp"

#include "tessera/actors/scheduler.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/schedule_dp.hpp"
#include "tessera/core/schedule_greedy.hpp"
#include "tessera/sim/sim_executor.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

namespace tessera::bench {

namespace {

struct workload_job {
  std::string model;
  double arrival_ms = 0.0;
  double deadline_ms = 0.0;
};

// Compute time of each model at batch 1 on this CPU (median of 3 warm runs).
caf::expected<std::vector<schedule_model>> calibrate(const bench_store& bs) {
  auto rig = load_rig::make(*bs.store);
  if (!rig)
    return rig.error();
  std::vector<schedule_model> out;
  for (const auto& e : bs.zoo) {
    const auto& m = e.manifest;
    auto loaded = (*rig)->exec->load(m);
    if (!loaded)
      return loaded.error();
    std::vector<tensor_buffer> in{random_tensor(with_batch(m.inputs[0].spec, 1), 1)};
    std::vector<double> ms;
    for (int i = 0; i < 4; ++i) {
      auto t = std::chrono::steady_clock::now();
      if (auto r = (*rig)->exec->run(**loaded, in); !r)
        return r.error();
      if (i > 0)
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
    }
    out.push_back(sim::schedule_model_of(m, median(ms)));
    (*rig)->exec->unload(*loaded);
  }
  return out;
}

std::vector<workload_job> make_workload(const std::vector<schedule_model>& models, const schedule_device& dev,
                                        double level, size_t count, uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::vector<double> weights;
  double mean_service = 0.0;
  for (size_t i = 0; i < models.size(); ++i) {
    weights.push_back(1.0 / static_cast<double>(i + 1));
    mean_service += model_exec_ms(models[i]) + 0.5 * static_cast<double>(model_bytes(models[i])) / dev.load_bytes_per_ms;
  }
  mean_service /= static_cast<double>(models.size());
  std::vector<size_t> perm(models.size());
  for (size_t i = 0; i < perm.size(); ++i)
    perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  std::exponential_distribution<double> gap(level / mean_service);
  std::uniform_real_distribution<double> slack(3.0, 8.0);
  std::vector<workload_job> out;
  double t = 0.0;
  for (size_t i = 0; i < count; ++i) {
    t += gap(rng);
    const auto& m = models[perm[pick(rng)]];
    double full_load = static_cast<double>(model_bytes(m)) / dev.load_bytes_per_ms;
    out.push_back({m.name, t, t + slack(rng) * (model_exec_ms(m) + 0.5 * full_load)});
  }
  return out;
}

// Replays the workload through the real scheduler with one simulated device.
sim::virtual_world replay(const std::vector<schedule_model>& models, const schedule_device& dev,
                          const std::vector<workload_job>& jobs, actors::queue_order order) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  auto& coordinator = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  auto world = std::make_shared<sim::virtual_world>();
  world->devices.emplace_back(models, dev);
  auto exec = sim::spawn_sim_executor(sys, world, 0);
  actors::scheduler_options opts;
  opts.order = order;
  auto scheduler = actors::spawn_scheduler(sys, {exec}, {}, opts);
  // Virtual deadlines go into the table; the real ones sit an hour away so the
  // scheduler's own clock never expires a job, while their order is preserved.
  auto epoch = std::chrono::steady_clock::now() + std::chrono::hours(1);
  auto client = sys.spawn([scheduler](caf::event_based_actor* self) -> caf::behavior {
    return {[=](actors::run_atom, actors::infer_job& j) {
      self->request(scheduler, caf::infinite, actors::run_atom::value, std::move(j))
        .then([](const actors::infer_outcome&) {}, [](const caf::error&) {});
    }};
  });
  double driver_ms = 0.0;
  size_t next = 0;
  for (;;) {
    driver_ms = std::max(driver_ms, world->now_ms());
    while (next < jobs.size() && jobs[next].arrival_ms <= driver_ms) {
      actors::infer_job j;
      j.ticket = next + 1;
      j.model = jobs[next].model;
      j.arrival = epoch + std::chrono::microseconds(static_cast<int64_t>(jobs[next].arrival_ms * 1000));
      j.deadline = epoch + std::chrono::microseconds(static_cast<int64_t>(jobs[next].deadline_ms * 1000));
      world->jobs[j.ticket] = sim::virtual_job{jobs[next].arrival_ms, jobs[next].deadline_ms};
      caf::anon_send(client, actors::run_atom::value, std::move(j));
      ++next;
    }
    if (coordinator.try_run_once())
      continue;
    if (next >= jobs.size())
      break;
    driver_ms = jobs[next].arrival_ms; // idle until the next arrival
  }
  coordinator.run();
  return *world;
}

// The highest load level at which an order meets 95% of the deadlines of
// `seeds` workloads of 400 requests together: doubling from 0.125 while it
// does, then 8 bisections (virtual time is deterministic, so no repeats).
double capacity_level(const std::vector<schedule_model>& models, const schedule_device& dev,
                      actors::queue_order order, uint32_t seeds) {
  auto meets = [&](double level) {
    size_t met = 0, total = 0;
    for (uint32_t r = 0; r < seeds; ++r) {
      auto jobs = make_workload(models, dev, level, 400, 100 + r);
      met += replay(models, dev, jobs, order).met;
      total += jobs.size();
    }
    return static_cast<double>(met) >= 0.95 * static_cast<double>(total);
  };
  double lo = 0.0, hi = 0.125;
  while (hi < 16.0 && meets(hi)) {
    lo = hi;
    hi *= 2.0;
  }
  for (int i = 0; i < 8; ++i) {
    double mid = 0.5 * (lo + hi);
    (meets(mid) ? lo : hi) = mid;
  }
  return lo;
}

// Instances in the dynamic program's class from the zoo's head variants.
double dp_vs_greedy_gap(const std::vector<schedule_model>& all, const schedule_device& dev, int instances) {
  std::vector<schedule_model> models;
  for (const auto& m : all)
    if (m.name.find("-ft") == std::string::npos && m.name.find("-scratch") == std::string::npos)
      models.push_back(m);
  auto sharing = detect_bottom_sharing(models);
  if (!sharing)
    return -1.0;
  std::mt19937_64 rng{5};
  double gap = 0.0;
  int counted = 0;
  for (int k = 0; k < instances; ++k) {
    schedule_instance inst;
    inst.models = models;
    inst.device = dev;
    inst.device.residency = residency_policy::last_model;
    std::vector<double> cluster_deadline(sharing->trunk_bytes.size());
    for (auto& d : cluster_deadline)
      d = std::uniform_real_distribution<double>(30.0, 400.0)(rng);
    for (int i = 0; i < 7; ++i) {
      schedule_request r;
      r.id = static_cast<uint64_t>(i);
      r.model = rng() % models.size();
      r.deadline_ms = cluster_deadline[sharing->cluster_of[r.model]];
      inst.requests.push_back(r);
    }
    auto dp = schedule_bottom_sharing_dp(inst);
    if (!dp || dp->met == 0)
      continue;
    auto greedy = schedule_sharing_greedy(inst);
    gap += static_cast<double>(dp->met - std::min(dp->met, greedy.met)) / static_cast<double>(dp->met);
    ++counted;
  }
  return counted == 0 ? -1.0 : gap / counted;
}

} // namespace

int run_schedule_bench(const bench_options& opts) {
  auto bs = open_bench_store(opts, "schedule");
  if (!bs)
    return std::fprintf(stderr, "bench schedule: %s\n", describe(bs.error()).c_str()), 1;
  auto models = calibrate(*bs);
  if (!models)
    return std::fprintf(stderr, "bench schedule: %s\n", describe(models.error()).c_str()), 1;
  // An edge box: 1 GB/s from storage to the device, room for about 2.5 models.
  schedule_device dev;
  dev.load_bytes_per_ms = 1.0e6;
  uint64_t largest = 0;
  for (const auto& m : *models)
    largest = std::max(largest, model_bytes(m));
  dev.capacity_bytes = largest * 5 / 2;
  dev.residency = residency_policy::lru_blocks;
  std::printf("Deadlines met out of 400 requests (median over %u seeds), simulated device, CPU compute times\n",
              opts.repeat);
  std::printf("%-8s %12s %12s %12s\n", "load", "reuse-aware", "EDF", "FIFO");
  double vs_edf = 0.0, vs_fifo = 0.0;
  for (double level : {0.5, 1.0, 1.5}) {
    std::vector<double> reuse, edf, fifo;
    for (uint32_t r = 0; r < opts.repeat; ++r) {
      auto jobs = make_workload(*models, dev, level, 400, 100 + r);
      reuse.push_back(static_cast<double>(replay(*models, dev, jobs, actors::queue_order::reuse_aware).met));
      edf.push_back(static_cast<double>(replay(*models, dev, jobs, actors::queue_order::edf).met));
      fifo.push_back(static_cast<double>(replay(*models, dev, jobs, actors::queue_order::fifo).met));
    }
    std::printf("%-8.1f %12.0f %12.0f %12.0f\n", level, median(reuse), median(edf), median(fifo));
    if (level == 1.5) {
      vs_edf = median(reuse) / std::max(1.0, median(edf));
      vs_fifo = median(reuse) / std::max(1.0, median(fifo));
    }
  }
  // Capacity: the highest load each order serves with 95% of deadlines met,
  // the figure that says which order lets a box take more work.
  uint32_t seeds = std::min(opts.repeat, 3u);
  double cap_reuse = capacity_level(*models, dev, actors::queue_order::reuse_aware, seeds);
  double cap_edf = capacity_level(*models, dev, actors::queue_order::edf, seeds);
  double cap_fifo = capacity_level(*models, dev, actors::queue_order::fifo, seeds);
  std::printf(
      "\nCapacity (highest load with 95%% of deadlines met, %u seeds of 400 requests together):\n",
      seeds);
  std::printf("  reuse-aware %.3f, EDF %.3f, FIFO %.3f\n", cap_reuse, cap_edf, cap_fifo);
  auto gap = dp_vs_greedy_gap(*models, dev, 200);
  std::printf("\nBottom-sharing instances (7 requests, head variants): greedy's mean shortfall vs the DP %.4f\n", gap);
  bench_report report{"schedule"};
  report.metric("capacity_vs_edf", cap_edf > 0 ? cap_reuse / cap_edf : 0.0);
  report.metric("capacity_vs_fifo", cap_fifo > 0 ? cap_reuse / cap_fifo : 0.0);
  // Deadlines met at load 1.5, where every order misses most of them: an
  // overload figure, not the capacity.
  report.metric("deadline_throughput_vs_edf_at_load_1_5", vs_edf);
  report.metric("deadline_throughput_vs_fifo_at_load_1_5", vs_fifo);
  report.metric("dp_vs_greedy_gap", gap);
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench
