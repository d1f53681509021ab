// The optimal dynamic program against exhaustive search on random bottom-sharing
// queues, and the greedy's measured gap to exhaustive search on random queues
// whose models share blocks at any depth (numbers in docs/scheduling.md).
#include "tessera/core/error.hpp"
#include "tessera/core/schedule_baselines.hpp"
#include "tessera/core/schedule_dp.hpp"
#include "tessera/core/schedule_exhaustive.hpp"
#include "tessera/core/schedule_greedy.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace tessera;

namespace {

constexpr double bytes_per_ms = 1000.0;

/// Integral times and sizes that are whole milliseconds keep every sum exact,
/// so the program and the search agree to the last bit on each deadline.
struct instance_source {
  std::mt19937_64 rng;
  uint64_t next_block = 1;

  explicit instance_source(uint64_t seed) : rng(seed) {
    // nop
  }

  int uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  }

  schedule_block fresh_block() {
    return {content_id{7, next_block++}, static_cast<uint64_t>(uniform(1, 30)) * 1000,
            static_cast<double>(uniform(0, 3))};
  }

  /// Clusters of models that share a trunk and nothing else; one deadline per
  /// cluster; everything queued at the start.
  schedule_instance bottom_sharing(size_t requests) {
    schedule_instance inst;
    inst.device.load_bytes_per_ms = bytes_per_ms;
    inst.start_ms = uniform(0, 5);
    std::vector<double> deadline;
    std::vector<size_t> cluster_of;
    int clusters = uniform(1, 3);
    for (int c = 0; c < clusters; ++c) {
      std::vector<schedule_block> trunk;
      for (int k = uniform(1, 2); k > 0; --k)
        trunk.push_back(fresh_block());
      deadline.push_back(inst.start_ms + uniform(5, 90));
      for (int m = uniform(1, 3); m > 0; --m) {
        schedule_model model{"c" + std::to_string(c) + "m" + std::to_string(m), trunk};
        for (int k = uniform(0, 2); k > 0; --k)
          model.blocks.push_back(fresh_block());
        inst.models.push_back(model);
        cluster_of.push_back(static_cast<size_t>(c));
      }
    }
    inst.resident_model = uniform(-1, static_cast<int>(inst.models.size()) - 1);
    for (size_t i = 0; i < requests; ++i) {
      auto m = static_cast<size_t>(uniform(0, static_cast<int>(inst.models.size()) - 1));
      inst.requests.push_back(
          {i, m, inst.start_ms - uniform(0, 3), deadline[cluster_of[m]], uniform(0, 2), 0});
    }
    return inst;
  }

  /// Models drawn from one pool of blocks, so sharing sits at any depth;
  /// staggered arrivals, per-request deadlines, block-level LRU residency.
  schedule_instance general_sharing(size_t requests) {
    schedule_instance inst;
    inst.device.load_bytes_per_ms = bytes_per_ms;
    inst.device.residency = residency_policy::lru_blocks;
    std::vector<schedule_block> pool;
    for (int k = 0; k < 7; ++k)
      pool.push_back(fresh_block());
    uint64_t largest = 0;
    for (int m = uniform(2, 5); m > 0; --m) {
      schedule_model model{"m" + std::to_string(m), {}};
      std::vector<size_t> picks(pool.size());
      for (size_t k = 0; k < picks.size(); ++k)
        picks[k] = k;
      std::shuffle(picks.begin(), picks.end(), rng);
      picks.resize(static_cast<size_t>(uniform(2, 4)));
      for (auto k : picks)
        model.blocks.push_back(pool[k]);
      largest = std::max(largest, model_bytes(model));
      inst.models.push_back(model);
    }
    inst.device.capacity_bytes = largest + static_cast<uint64_t>(uniform(0, 40)) * 1000;
    for (size_t i = 0; i < requests; ++i) {
      double arrival = uniform(0, 40);
      inst.requests.push_back(
          {i, static_cast<size_t>(uniform(0, static_cast<int>(inst.models.size()) - 1)), arrival,
           arrival + uniform(8, 90), 0, 0});
    }
    return inst;
  }
};

} // namespace

TEST_SUITE("schedule_optimal") {
  TEST_CASE("the dynamic program equals exhaustive search on random bottom-sharing queues") {
    instance_source source{20250611};
    size_t instances = 0;
    size_t nontrivial = 0; // where the optimum drops at least one request
    for (size_t n = 1; n <= 8; ++n)
      for (int round = 0; round < (n <= 6 ? 120 : 60); ++round) {
        auto inst = source.bottom_sharing(n);
        auto dp = schedule_bottom_sharing_dp(inst);
        REQUIRE_MESSAGE(dp, test::why(dp));
        auto exact = schedule_exhaustive(inst);
        REQUIRE(exact);
        CHECK_MESSAGE(dp->met == exact->met, "n=" << n << " round=" << round);
        for (const auto& out : dp->outcomes)
          CHECK(out.met); // the program serves only what it can finish in time
        ++instances;
        nontrivial += exact->met < n ? 1 : 0;
      }
    MESSAGE(instances << " instances, " << nontrivial << " with dropped requests");
    CHECK(nontrivial > instances / 4); // the instances do exercise the choice of subset
  }

  TEST_CASE("the greedy stays within its measured gap of exhaustive search") {
    // Mean over instances of (optimum - met) / optimum; instances where nothing
    // can be met are left out. Measured at commit time: greedy 0.071, its
    // one-step variant 0.081, EDF 0.103, FIFO 0.134 (docs/scheduling.md).
    instance_source source{77};
    std::vector<double> gap(4, 0.0);
    size_t counted = 0;
    greedy_options one_step;
    one_step.rollout = false;
    for (size_t n = 3; n <= 7; ++n)
      for (int round = 0; round < 60; ++round) {
        auto inst = source.general_sharing(n);
        auto exact = schedule_exhaustive(inst);
        REQUIRE(exact);
        auto greedy = schedule_sharing_greedy(inst);
        auto edf = schedule_edf(inst);
        size_t met[] = {greedy.met, schedule_sharing_greedy(inst, one_step).met, edf.met,
                        schedule_fifo(inst).met};
        for (auto m : met)
          CHECK(m <= exact->met);
        CHECK(greedy.met >= edf.met); // a roll-out never does worse than its base
        for (const auto& out : greedy.outcomes)
          CHECK(out.met);
        if (exact->met == 0)
          continue;
        ++counted;
        for (size_t i = 0; i < gap.size(); ++i)
          gap[i] += static_cast<double>(exact->met - met[i]) / static_cast<double>(exact->met);
      }
    for (auto& g : gap)
      g /= static_cast<double>(counted);
    MESSAGE("mean gap over " << counted << " instances: greedy " << gap[0] << ", one-step "
                             << gap[1] << ", edf " << gap[2] << ", fifo " << gap[3]);
    CHECK(gap[0] <= 0.075);
    CHECK(gap[1] <= 0.09);
    CHECK(gap[0] < gap[2]);
  }
}
