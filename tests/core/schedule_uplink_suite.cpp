// Joint uplink bandwidth allocation: shares fit the capacity, requests that
// cannot be met get nothing, kept requests meet their deadlines, and more
// capacity never meets fewer deadlines.
#include "tessera/core/error.hpp"
#include "tessera/core/schedule_greedy.hpp"
#include "tessera/core/uplink_allocation.hpp"

#include <doctest/doctest.h>

#include <numeric>
#include <random>

using namespace tessera;

namespace {

/// Three models on one trunk and a fourth alone; inputs of 0 to 400 KB that
/// arrive over 20 ms with deadlines 10 to 120 ms later.
schedule_instance uplink_queue(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  schedule_instance inst;
  inst.device.load_bytes_per_ms = 2000.0;
  schedule_block trunk{content_id{9, 1}, 40000, 2.0};
  for (uint64_t m = 0; m < 3; ++m)
    inst.models.push_back(
        {"head" + std::to_string(m), {trunk, {content_id{9, 10 + m}, 8000 * (m + 1), 1.0}}});
  inst.models.push_back({"alone", {{content_id{9, 20}, 60000, 4.0}}});
  for (uint64_t i = 0; i < n; ++i) {
    schedule_request r;
    r.id = i;
    r.model = static_cast<size_t>(pick(0, 3));
    r.arrival_ms = pick(0, 20);
    r.deadline_ms = r.arrival_ms + pick(10, 120);
    r.input_bytes = static_cast<uint64_t>(pick(0, 400)) * 1000;
    inst.requests.push_back(r);
  }
  return inst;
}

std::vector<size_t> all_in_order(const schedule_instance& inst) {
  std::vector<size_t> order(inst.requests.size());
  std::iota(order.begin(), order.end(), 0);
  return order;
}

double total_share(const uplink_allocation& a) {
  return std::accumulate(a.share_bytes_per_ms.begin(), a.share_bytes_per_ms.end(), 0.0);
}

} // namespace

TEST_SUITE("schedule_uplink") {
  TEST_CASE("shares fit the capacity and every kept request meets its deadline") {
    for (uint64_t seed = 1; seed <= 40; ++seed) {
      auto inst = uplink_queue(seed, 8);
      for (double capacity : {5000.0, 20000.0, 80000.0}) {
        auto alloc = allocate_uplink(inst, all_in_order(inst), capacity);
        REQUIRE(alloc);
        CHECK(total_share(*alloc) <= capacity * (1 + 1e-12));
        for (size_t i = 0; i < inst.requests.size(); ++i) {
          bool kept = std::find(alloc->kept.begin(), alloc->kept.end(), i) != alloc->kept.end();
          if (!kept) // a request that will not be served gets no bandwidth
            CHECK(alloc->share_bytes_per_ms[i] == 0.0);
        }
        auto uploaded = with_uploads(inst, *alloc);
        auto plan = simulate(uploaded, all_in_order(uploaded));
        CHECK(plan.met == alloc->kept.size());
      }
    }
  }

  TEST_CASE("a request that no share can save gets none, and the rest get what they need") {
    schedule_instance inst;
    inst.device.load_bytes_per_ms = 1000.0;
    inst.models = {{"m", {{content_id{3, 1}, 10000, 5.0}}}};
    // 0: 100 KB due 60 ms after it arrives; 1: due before its model could run.
    inst.requests = {{0, 0, 0.0, 60.0, 0, 100000}, {1, 0, 0.0, 12.0, 0, 1000}};
    auto alloc = allocate_uplink(inst, {1, 0}, 10000.0);
    REQUIRE(alloc);
    CHECK(alloc->kept == std::vector<size_t>{0});
    CHECK(alloc->share_bytes_per_ms[1] == 0.0);
    // Load 10 ms and run 5 ms: the upload must finish by 45 ms, so 100 KB needs
    // 2223 B/ms at least; the spare capacity speeds it up further.
    CHECK(alloc->share_bytes_per_ms[0] == doctest::Approx(10000.0));
    CHECK(alloc->upload_done_ms[0] == doctest::Approx(10.0));
    auto tight = allocate_uplink(inst, {0}, 2000.0);
    REQUIRE(tight);
    CHECK(tight->kept.empty()); // 2000 B/ms cannot bring 100 KB in by 45 ms
    CHECK(total_share(*tight) == 0.0);
    CHECK_FALSE(allocate_uplink(inst, {0}, -1.0));
    CHECK_FALSE(allocate_uplink(inst, {5}, 1000.0));
  }

  TEST_CASE("more capacity never meets fewer deadlines") {
    const std::vector<double> capacities{1000.0, 3000.0, 10000.0, 30000.0, 100000.0, 1e6};
    size_t grew = 0;
    for (uint64_t seed = 100; seed < 140; ++seed) {
      auto inst = uplink_queue(seed, 10);
      size_t last_kept = 0;
      size_t last_met = 0;
      for (auto capacity : capacities) {
        auto alloc = allocate_uplink(inst, all_in_order(inst), capacity);
        REQUIRE(alloc);
        CHECK(alloc->kept.size() >= last_kept); // holds by construction
        last_kept = alloc->kept.size();
        auto joint = schedule_with_uplink(
            inst, capacity, [](const schedule_instance& i) { return schedule_sharing_greedy(i); });
        REQUIRE(joint);
        CHECK(joint->plan.met >= last_met); // observed on these instances
        grew += joint->plan.met > last_met && last_met > 0 ? 1 : 0;
        last_met = joint->plan.met;
      }
    }
    CHECK(grew > 0); // capacity does matter on these instances
  }

  TEST_CASE("the joint sequence keeps the better of the fixed and the re-made order") {
    for (uint64_t seed = 200; seed < 230; ++seed) {
      auto inst = uplink_queue(seed, 9);
      auto joint = schedule_with_uplink(
          inst, 8000.0, [](const schedule_instance& i) { return schedule_sharing_greedy(i); });
      REQUIRE(joint);
      CHECK(joint->plan.met >= joint->allocation.kept.size());
      CHECK(joint->uploaded.requests.size() == joint->allocation.kept.size());
      CHECK(total_share(joint->allocation) <= 8000.0 * (1 + 1e-12));
      for (const auto& out : joint->plan.outcomes)
        CHECK(out.start_ms >= joint->uploaded.requests[out.request].arrival_ms);
    }
    auto inst = uplink_queue(1, 3);
    auto bad = schedule_with_uplink(
        inst, 0.0, [](const schedule_instance& i) { return schedule_sharing_greedy(i); });
    REQUIRE_FALSE(bad);
    CHECK(code_of(bad.error()) == ec::invalid_argument);
  }
}
