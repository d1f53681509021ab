// Placement of units on executors: the score (wait, load of what is not
// resident, eviction on a full node), its tie-breaks, and the review that
// re-places a unit when load shifts, replicates a hot one and drops idle
// replicas. Crafted cases, each built so that a wrong rule picks another place.
#include "tessera/core/placement.hpp"

#include <doctest/doctest.h>

using namespace tessera;

namespace {

constexpr uint64_t mb = 1000 * 1000;

/// A unit of a 40 MB trunk (blob 1) and a 4 MB head (blob `head`).
placement_unit unit_with_head(uint64_t head) {
  return {"u" + std::to_string(head), {{content_id{0, 1}, 40 * mb}, {content_id{0, head}, 4 * mb}}};
}

executor_view idle_on(uint32_t node) {
  executor_view v;
  v.node = node;
  return v;
}

placement_options options() {
  placement_options o;
  o.load_bytes_per_ms = 1.0 * mb; // 1 MB per ms
  return o;
}

} // namespace

TEST_SUITE("placement") {
  TEST_CASE("a unit's resident bytes count only its own blobs that are resident") {
    auto u = unit_with_head(2);
    CHECK(u.bytes() == 44 * mb);
    CHECK(u.resident_bytes({content_id{0, 1}, content_id{0, 9}}) == 40 * mb);
    CHECK(u.resident_bytes({}) == 0);
  }

  TEST_CASE("an executor whose node holds the unit's shared blocks is preferred") {
    auto u = unit_with_head(3);
    std::vector<executor_view> views{idle_on(0), idle_on(1), idle_on(2)};
    views[2].resident_bytes = 40 * mb; // node 2 holds the trunk (another head's model)
    CHECK(place_unit(u, views, options()) == size_t{2});
    CHECK(score_executor(u, views[2], options()).load_ms == doctest::Approx(4.0));
    CHECK(score_executor(u, views[0], options()).load_ms == doctest::Approx(44.0));
    // Holding the unit beats holding part of it.
    views[1].holds = true;
    CHECK(place_unit(u, views, options()) == size_t{1});
  }

  TEST_CASE("nodes without free memory are avoided: the load would evict what others read again") {
    auto u = unit_with_head(2);
    std::vector<executor_view> views{idle_on(0), idle_on(1)};
    views[0].free_bytes = 0;
    views[1].free_bytes = 100 * mb;
    CHECK(place_unit(u, views, options()) == size_t{1});
    CHECK(score_executor(u, views[0], options()).evict_ms == doctest::Approx(44.0));
    CHECK(score_executor(u, views[1], options()).evict_ms == 0.0);
    // Resident blocks on the full node do not need room: only the head is missing.
    views[0].resident_bytes = 40 * mb;
    views[0].free_bytes = 4 * mb;
    CHECK(place_unit(u, views, options()) == size_t{0});
  }

  TEST_CASE("ties are broken by queue length, then by index") {
    auto u = unit_with_head(2);
    std::vector<executor_view> views{idle_on(0), idle_on(1), idle_on(2)};
    views[0].queued = 2;
    views[1].queued = 1;
    views[2].queued = 3;
    CHECK(place_unit(u, views, options()) == size_t{1});
    views[0].queued = 1;
    CHECK(place_unit(u, views, options()) == size_t{0});
    // Excluded and down executors are never chosen.
    CHECK(place_unit(u, views, options(), {0}) == size_t{1});
    views[1].up = false;
    CHECK(place_unit(u, views, options(), {0}) == size_t{2});
    views[0].up = views[2].up = false;
    CHECK_FALSE(place_unit(u, views, options()).has_value());
  }

  TEST_CASE("the wait ahead trades against the load: a busy holder loses only when its queue costs "
            "more") {
    auto u = unit_with_head(2);
    std::vector<executor_view> views{idle_on(0), idle_on(1)};
    views[0].holds = true;
    views[0].queued = 2;
    views[0].queued_ms = 30.0; // less than loading 44 MB elsewhere
    CHECK(place_unit(u, views, options()) == size_t{0});
    views[0].queued_ms = 60.0;
    CHECK(place_unit(u, views, options()) == size_t{1});
  }

  TEST_CASE(
      "a hot unit gets a replica on an idle executor, up to the limit, and not on a busy one") {
    auto u = unit_with_head(2);
    auto opts = options();
    std::vector<executor_view> views{idle_on(0), idle_on(1), idle_on(2)};
    views[0].holds = true;
    views[0].queued = 6;
    views[0].queued_ms = 300.0;
    views[2].resident_bytes = 40 * mb;
    std::vector<placed_replica> placed{{0, 0.0}};
    unit_load hot{5, 10.0};
    auto change = review_placement(u, placed, views, hot, 0.0, opts);
    CHECK(change.action == placement_action::add);
    CHECK(change.executor == 2); // the one that holds the trunk
    // A long wait makes it hot too, with a single job queued.
    change = review_placement(u, placed, views, unit_load{1, 80.0}, 0.0, opts);
    CHECK(change.action == placement_action::add);
    // No replica beyond the limit.
    opts.max_replicas = 1;
    CHECK(review_placement(u, placed, views, hot, 0.0, opts).action == placement_action::keep);
    // None on executors that are themselves busy.
    opts.max_replicas = 4;
    views[1].queued = views[2].queued = 5;
    CHECK(review_placement(u, placed, views, hot, 0.0, opts).action == placement_action::keep);
  }

  TEST_CASE("a unit is re-placed when its executor's queue grows with other work") {
    auto u = unit_with_head(2);
    std::vector<executor_view> views{idle_on(0), idle_on(1)};
    views[0].holds = true;
    views[0].queued = 4;
    views[0].queued_ms = 100.0; // others' jobs: the unit itself has one waiting
    std::vector<placed_replica> placed{{0, 0.0}};
    auto change = review_placement(u, placed, views, unit_load{1, 1.0}, 0.0, options());
    CHECK(change.action == placement_action::move);
    CHECK(change.executor == 1);
    // When loading there costs more than the wait, it stays.
    views[0].queued_ms = 40.0;
    CHECK(review_placement(u, placed, views, unit_load{1, 1.0}, 0.0, options()).action ==
          placement_action::keep);
    // With nothing of its own waiting there is nothing to move for.
    views[0].queued_ms = 100.0;
    CHECK(review_placement(u, placed, views, unit_load{0, 0.0}, 0.0, options()).action ==
          placement_action::keep);
  }

  TEST_CASE("a unit on a down executor is placed again; a down replica is dropped") {
    auto u = unit_with_head(2);
    std::vector<executor_view> views{idle_on(0), idle_on(1), idle_on(2)};
    views[0].up = false;
    views[2].resident_bytes = 40 * mb;
    auto change = review_placement(u, {{0, 0.0}}, views, unit_load{1, 0.0}, 0.0, options());
    CHECK(change.action == placement_action::place);
    CHECK(change.executor == 2);
    change = review_placement(u, {{1, 0.0}, {0, 0.0}}, views, unit_load{1, 0.0}, 0.0, options());
    CHECK(change.action == placement_action::drop);
    CHECK(change.executor == 0);
    views[1].up = views[2].up = false;
    CHECK(review_placement(u, {{0, 0.0}}, views, unit_load{1, 0.0}, 0.0, options()).action ==
          placement_action::keep);
  }

  TEST_CASE("replicas idle while the load has fallen are dropped, the busiest kept") {
    auto u = unit_with_head(2);
    auto opts = options();
    std::vector<executor_view> views{idle_on(0), idle_on(1)};
    views[0].holds = views[1].holds = true;
    std::vector<placed_replica> placed{{0, 1900.0}, {1, 500.0}};
    auto change = review_placement(u, placed, views, unit_load{0, 0.0}, 2000.0, opts);
    CHECK(change.action == placement_action::drop);
    CHECK(change.executor == 1);
    // Recently used: kept.
    CHECK(review_placement(u, placed, views, unit_load{0, 0.0}, 1000.0, opts).action ==
          placement_action::keep);
    // Still hot: kept however long one replica has idled.
    CHECK(review_placement(u, placed, views, unit_load{4, 0.0}, 2000.0, opts).action ==
          placement_action::keep);
    // The last one is never dropped for idling.
    CHECK(review_placement(u, {{0, 0.0}}, views, unit_load{0, 0.0}, 5000.0, opts).action ==
          placement_action::keep);
  }
}
