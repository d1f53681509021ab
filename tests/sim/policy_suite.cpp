// Policies on a shipped scenario: reuse-aware ordering meets at least as many
// deadlines as FIFO, and loads fewer bytes.
#include "tessera/sim/model_catalog.hpp"
#include "tessera/sim/sim_report.hpp"

#include <doctest/doctest.h>

using namespace tessera;

TEST_SUITE("policy") {
  TEST_CASE("reuse-aware meets at least as many deadlines as FIFO on reuse_vs_fifo_edf.toml") {
    auto s = sim::load_scenario(TESSERA_SOURCE_DIR "/sim/scenarios/reuse_vs_fifo_edf.toml");
    REQUIRE(s);
    s->workload.requests = 600; // keeps the suite fast; the shape is the scenario's
    auto models = sim::synthetic_models(s->models);
    for (double level : {1.0, 1.5}) {
      auto requests = sim::make_workload(*s, models, level);
      REQUIRE(requests);
      auto reuse = sim::run_cluster(*s, models, *requests, actors::queue_order::reuse_aware, level);
      auto fifo = sim::run_cluster(*s, models, *requests, actors::queue_order::fifo, level);
      REQUIRE(reuse);
      REQUIRE(fifo);
      auto r = sim::summarize(*reuse);
      auto f = sim::summarize(*fifo);
      INFO("level " << level << ": reuse-aware met " << r.met << ", FIFO met " << f.met);
      CHECK(r.lost == 0);
      CHECK(f.lost == 0);
      CHECK(r.met >= f.met);
      CHECK(r.loaded_bytes < f.loaded_bytes);
    }
  }

  TEST_CASE("the per-request records are consistent with the device model") {
    auto s = sim::parse_scenario_text("[workload]\nrequests = 200\nrate_per_s = 5.0\n");
    REQUIRE(s);
    auto models = sim::synthetic_models(s->models);
    auto requests = sim::make_workload(*s, models, 1.0);
    REQUIRE(requests);
    auto run = sim::run_cluster(*s, models, *requests, actors::queue_order::edf, 1.0);
    REQUIRE(run);
    double last_end = 0.0;
    for (const auto& r : run->world.records) {
      REQUIRE(r.status != sim::request_status::failed);
      CHECK(r.start_ms >= r.arrival_ms);
      CHECK(r.end_ms > r.start_ms);
      CHECK((r.status == sim::request_status::met) == (r.end_ms <= r.deadline_ms));
      last_end = std::max(last_end, r.end_ms);
    }
    // One executor: its busy spans never overlap.
    const auto& spans = run->world.slots.at(0).spans;
    for (size_t i = 1; i < spans.size(); ++i)
      CHECK(spans[i].start_ms >= spans[i - 1].end_ms);
    CHECK(last_end > 0.0);
  }
}
