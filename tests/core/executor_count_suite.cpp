// The choice of an executor count from measured throughput: more executors
// only for a clear gain, missing figures skipped, and 1 when nothing was
// measured.
#include "tessera/core/executor_count.hpp"
#include "tessera/core/node_config.hpp"

#include <doctest/doctest.h>

#include <cmath>

using namespace tessera;

TEST_SUITE("executor_count") {
  TEST_CASE("the count with the best throughput wins when each step gains enough") {
    CHECK(choose_executor_count({100.0, 160.0, 170.0, 150.0}) == 3);
    CHECK(choose_executor_count({100.0, 190.0, 280.0, 370.0}) == 4);
  }

  TEST_CASE("a gain within the margin does not buy another executor") {
    // Two executors at 0.38x of one (oversubscribed cores): stay at one.
    CHECK(choose_executor_count({100.0, 38.0}) == 1);
    // 3% more is noise on a shared machine.
    CHECK(choose_executor_count({100.0, 103.0}) == 1);
    executor_count_options loose;
    loose.min_gain = 0.0;
    CHECK(choose_executor_count({100.0, 103.0}, loose) == 2);
    // The bar is the best so far, not the previous count: 4 must beat 2 by 5%.
    CHECK(choose_executor_count({100.0, 150.0, 140.0, 155.0}) == 2);
  }

  TEST_CASE("missing figures are skipped, and nothing measured means one") {
    CHECK(choose_executor_count({}) == 1);
    CHECK(choose_executor_count({0.0, 0.0}) == 1);
    CHECK(choose_executor_count({std::nan(""), 80.0}) == 2);
    CHECK(choose_executor_count({100.0, -1.0, 200.0}) == 3);
  }

  TEST_CASE("the log line names every figure and the choice") {
    auto line = describe_executor_count({100.0, 160.0}, 2);
    CHECK(line == "executors = auto: 1 -> 100.0 jobs/s, 2 -> 160.0 jobs/s; running 2");
  }
}

TEST_SUITE("executor_count") {
  TEST_CASE("executors = auto is a config value, and a number turns it off") {
    node_config cfg;
    REQUIRE_FALSE(set_config_value(cfg, "executors", "auto"));
    CHECK(cfg.executors_auto);
    CHECK(get_config_value(cfg, "executors") == "auto");
    REQUIRE_FALSE(set_config_value(cfg, "executors", "3"));
    CHECK_FALSE(cfg.executors_auto);
    CHECK(cfg.executors == 3);
    CHECK(set_config_value(cfg, "executors", "many"));
  }
}
