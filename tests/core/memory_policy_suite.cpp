#include "tessera/core/error.hpp"
#include "tessera/core/eviction.hpp"
#include "tessera/core/memory_pressure.hpp"
#include "tessera/core/node_config.hpp"

#include <doctest/doctest.h>

using namespace tessera;

namespace {

content_id id_of(uint64_t n) {
  return content_id{0, n};
}

} // namespace

TEST_SUITE("memory_policy") {
  TEST_CASE("LRU evicts the least recently used first, and only as much as needed") {
    std::vector<eviction_candidate> c{
      {id_of(1), 100, 30, 0.0}, {id_of(2), 100, 10, 0.0}, {id_of(3), 100, 20, 0.0}};
    auto plan = plan_eviction(c, 150, eviction_policy::lru, 0.0);
    CHECK(plan.enough);
    CHECK(plan.bytes == 200);
    CHECK(plan.victims == std::vector<content_id>{id_of(2), id_of(3)});
  }

  TEST_CASE("cost-aware eviction keeps widely shared and costly-per-byte blobs") {
    reload_cost_model cost;
    auto big_private = cost_aware_priority(0.0, reuse_weight(1, 1), cost.cost_ms(8 << 20), 8 << 20);
    auto big_shared = cost_aware_priority(0.0, reuse_weight(1, 5), cost.cost_ms(8 << 20), 8 << 20);
    auto small_private = cost_aware_priority(0.0, reuse_weight(1, 1), cost.cost_ms(4096), 4096);
    CHECK(big_shared > big_private);
    CHECK(small_private > big_private); // per-blob overhead makes small blobs dear per byte
    // The shared blob was used longest ago, so LRU would drop it first.
    std::vector<eviction_candidate> c{{id_of(1), 8 << 20, 1, big_shared},
                                      {id_of(2), 8 << 20, 2, big_private}};
    auto lru = plan_eviction(c, 1, eviction_policy::lru, 0.0);
    auto gdsf = plan_eviction(c, 1, eviction_policy::cost_aware, 0.0);
    CHECK(lru.victims.front() == id_of(1));
    CHECK(gdsf.victims.front() == id_of(2));
    CHECK(gdsf.inflation == doctest::Approx(big_private));
  }

  TEST_CASE("a plan that cannot free enough says so and keeps the inflation") {
    std::vector<eviction_candidate> c{{id_of(1), 10, 1, 5.0}};
    auto plan = plan_eviction(c, 100, eviction_policy::cost_aware, 2.0);
    CHECK_FALSE(plan.enough);
    CHECK(plan.bytes == 10);
    CHECK(plan.inflation == 2.0);
    CHECK(plan_eviction({}, 0, eviction_policy::lru, 0.0).enough);
  }

  TEST_CASE("pressure levels follow the watermarks exactly") {
    watermarks m; // 0.80, 0.90, 0.95
    CHECK(pressure_of(799, 1000, m) == pressure_level::normal);
    CHECK(pressure_of(800, 1000, m) == pressure_level::low);
    CHECK(pressure_of(899, 1000, m) == pressure_level::low);
    CHECK(pressure_of(900, 1000, m) == pressure_level::high);
    CHECK(pressure_of(950, 1000, m) == pressure_level::critical);
    CHECK(pressure_of(1200, 1000, m) == pressure_level::critical);
    CHECK(bytes_above_low_watermark(799, 1000, m) == 0);
    CHECK(bytes_above_low_watermark(950, 1000, m) == 151);
    CHECK(pressure_of(950 - 151, 1000, m) == pressure_level::normal);
    CHECK_FALSE(validate(m));
    CHECK(validate(watermarks{0.9, 0.8, 0.95}));
    CHECK(validate(watermarks{0.5, 0.9, 1.5}));
  }

  TEST_CASE("memory settings come from the configuration and are validated") {
    node_config cfg;
    CHECK_FALSE(set_config_value(cfg, "eviction_policy", "lru"));
    CHECK(cfg.eviction == eviction_policy::lru);
    CHECK_FALSE(set_config_value(cfg, "watermark_low", "0.7"));
    CHECK(cfg.marks.low == doctest::Approx(0.7));
    CHECK(get_config_value(cfg, "watermark_low") == "0.7");
    CHECK_FALSE(set_config_value(cfg, "io_threads", "4"));
    CHECK(cfg.io_threads == 4);
    auto bad = set_config_value(cfg, "watermark_high", "1.5");
    REQUIRE(bad);
    CHECK(describe(bad).find("watermark_high") != std::string::npos);
    CHECK(set_config_value(cfg, "eviction_policy", "random"));
    CHECK_FALSE(set_config_value(cfg, "watermark_high", "0.6"));
    auto crossed = validate_config(cfg); // low 0.7 > high 0.6
    REQUIRE(crossed);
    CHECK(code_of(crossed) == ec::bad_config);
  }
}
