#include "tessera/core/swap_budget.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <numeric>

using namespace tessera;

namespace {

uint64_t sum(const std::vector<uint64_t>& xs) {
  return std::accumulate(xs.begin(), xs.end(), uint64_t{0});
}

} // namespace

TEST_SUITE("swap_budget") {
  TEST_CASE("one model gets the whole budget, up to its size") {
    CHECK(split_swap_budget(1000, {{100, 3000, 0}}) == std::vector<uint64_t>{1000});
    CHECK(split_swap_budget(1000, {{100, 600, 0}}) == std::vector<uint64_t>{600});
    CHECK(split_swap_budget(1000, {{100, 3000, 400}}) == std::vector<uint64_t>{400});
  }

  TEST_CASE("every admitted model gets its floor, and the rest goes by largest block") {
    // Floors 100 + 300 leave 600, shared 1:3.
    auto s = split_swap_budget(1000, {{100, 10000, 0}, {300, 10000, 0}});
    REQUIRE(s.size() == 2);
    CHECK(s[0] == 100 + 150);
    CHECK(s[1] == 300 + 450);
    CHECK(sum(s) == 1000);
  }

  TEST_CASE("what a small or capped model cannot use goes to the others") {
    auto s = split_swap_budget(1000, {{100, 200, 0}, {100, 10000, 0}, {100, 10000, 250}});
    REQUIRE(s.size() == 3);
    CHECK(s[0] == 200);
    CHECK(s[2] == 250);
    CHECK(s[1] == 550);
    CHECK(sum(s) == 1000);
  }

  TEST_CASE("models whose floor does not fit beside earlier ones wait with a share of 0") {
    auto s = split_swap_budget(1000, {{600, 5000, 0}, {500, 5000, 0}, {300, 5000, 0}});
    REQUIRE(s.size() == 3);
    CHECK(s[1] == 0);
    CHECK(s[0] >= 600);
    CHECK(s[2] >= 300);
    CHECK(sum(s) == 1000);
    // A block larger than the model's own cap is never admitted.
    CHECK(split_swap_budget(1000, {{500, 5000, 400}}) == std::vector<uint64_t>{0});
  }

  TEST_CASE("shares never exceed the total or a ceiling, over many mixes") {
    for (uint64_t total : {1ull, 999ull, 4096ull, 1ull << 30}) {
      for (uint64_t n = 1; n <= 6; ++n) {
        std::vector<swap_demand> ds;
        for (uint64_t i = 0; i < n; ++i)
          ds.push_back({(i * 37 + 11) % 500 + 1, (i * 911 + 700) % 5000 + 500, i % 3 == 2 ? uint64_t{800} : uint64_t{0}});
        auto s = split_swap_budget(total, ds);
        CAPTURE(total);
        CAPTURE(n);
        CHECK(sum(s) <= total);
        for (std::size_t i = 0; i < ds.size(); ++i) {
          CHECK(s[i] <= std::max(ds[i].model_bytes, ds[i].largest_block_bytes));
          if (ds[i].cap_bytes > 0)
            CHECK(s[i] <= ds[i].cap_bytes);
          CHECK((s[i] == 0 || s[i] >= ds[i].largest_block_bytes));
        }
      }
    }
  }
}
