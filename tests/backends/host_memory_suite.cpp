// The host memory budget (decision 46): what a node keeps beyond its loaded
// models (mapped blob files, kept device memory, kept blocks, request buffers)
// is summed, and over the budget trimmed in that order, on a real store, a
// real CPU arena and a real residency manager in copy mode.
#include "residency_fixture.hpp"
#include "tessera/residency/host_memory.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

#include <atomic>

using namespace tessera;
using namespace tessera::test;

namespace {

constexpr uint64_t mib = 1ull << 20;

// A manager in copy mode over its own view of the small zoo's store (so its
// mappings are its own), an arena that keeps up to 64 MiB of freed pages, and
// a keeper with no thread: the test runs its passes.
struct kept_rig {
  std::optional<store::block_store> store;
  residency::cpu_arena arena{0, 64 * mib, 64 * mib};
  std::unique_ptr<residency::residency_manager> mgr;
  std::atomic<uint64_t> request_bytes{0};
  std::unique_ptr<residency::host_memory_keeper> keeper;

  explicit kept_rig(uint64_t budget) {
    auto st = store::block_store::open(small_zoo::get().dir->path(), false);
    REQUIRE(st);
    store.emplace(std::move(*st));
    residency::residency_options opts;
    opts.device_budget_bytes = 1ull << 30;
    opts.mode = load_mode::copy;
    opts.keep_unloaded = true;
    mgr = std::make_unique<residency::residency_manager>(*store, arena, opts);
    residency::host_memory_options hopts;
    hopts.budget_bytes = budget;
    hopts.burst_bytes = 4 * mib;
    keeper = std::make_unique<residency::host_memory_keeper>(
        *mgr, arena, store->blobs().mappings(), [this] { return request_bytes.load(); }, hopts,
        false);
  }

  // Loads and unloads the models: their blocks stay kept, their files mapped.
  void load_and_unload(std::initializer_list<const char*> names) {
    for (const auto* name : names) {
      const auto& m = small_zoo::get().manifest(name);
      auto l = mgr->load(m.name, residency::blob_refs_of(m));
      REQUIRE_MESSAGE(l, why(l));
      mgr->unload(*l);
    }
  }
};

} // namespace

TEST_SUITE("host_memory") {
  TEST_CASE("every part is counted, and without a budget nothing is trimmed") {
    kept_rig r{0};
    r.load_and_unload({"resnet18", "vit-tiny"});
    r.request_bytes = 3 * mib;
    auto parts = r.keeper->measure();
    auto s = r.mgr->stats();
    CHECK(parts.mapped_files == s.host.store_mapped_bytes);
    CHECK(parts.mapped_files > 0);
    CHECK(parts.kept_blocks == s.device.cached_bytes);
    CHECK(parts.kept_blocks == model_bytes(small_zoo::get().manifest("resnet18")) +
                                   model_bytes(small_zoo::get().manifest("vit-tiny")));
    CHECK(parts.kept_device == r.arena.cached_bytes());
    CHECK(parts.request_buffers == 3 * mib);
    CHECK(r.keeper->pass() == 0);
    CHECK(r.keeper->measure().total() == parts.total());
  }

  TEST_CASE("over the budget, mapped files go first, then kept device memory, then kept blocks") {
    // Sizes first, with no budget.
    kept_rig probe{0};
    probe.load_and_unload({"resnet18", "vit-tiny"});
    auto full = probe.keeper->measure();
    REQUIRE(full.mapped_files > 0);
    REQUIRE(full.kept_blocks > 0);

    SUBCASE("an excess the mappings cover costs only mappings") {
      kept_rig r{full.total() - full.mapped_files / 2};
      r.load_and_unload({"resnet18", "vit-tiny"});
      auto before = r.keeper->measure();
      REQUIRE(before.total() == full.total());
      r.keeper->pass();
      auto after = r.keeper->measure();
      CHECK(after.total() <= full.total() - full.mapped_files / 2);
      CHECK(after.mapped_files < before.mapped_files);
      CHECK(after.kept_blocks == before.kept_blocks); // no block was dropped
      auto st = r.keeper->stats();
      CHECK(st.trimmed.mapped_files == before.mapped_files - after.mapped_files);
      CHECK(st.trimmed.kept_blocks == 0);
      CHECK(st.over_budget == 1);
    }
    SUBCASE("a budget below the blocks drops blocks, by policy, until it holds") {
      uint64_t budget = full.kept_blocks / 2;
      kept_rig r{budget};
      r.load_and_unload({"resnet18", "vit-tiny"});
      r.keeper->pass();
      auto after = r.keeper->measure();
      CHECK(after.total() <= budget);
      CHECK(after.mapped_files == 0);
      CHECK(after.kept_device == 0); // freed blocks' pages went back too
      CHECK(after.kept_blocks > 0);  // not every block: only what the budget needs
      auto st = r.keeper->stats();
      CHECK(st.trimmed.kept_blocks == full.kept_blocks - after.kept_blocks);
      // Models load again from the store, as they would after any eviction.
      r.load_and_unload({"resnet18"});
    }
    SUBCASE("request buffers cannot be trimmed: everything else is") {
      kept_rig r{2 * mib};
      r.load_and_unload({"resnet18"});
      r.request_bytes = 8 * mib;
      r.keeper->pass();
      auto after = r.keeper->measure();
      CHECK(after.mapped_files == 0);
      CHECK(after.kept_device == 0);
      CHECK(after.kept_blocks == 0);
      CHECK(after.total() == 8 * mib);
    }
  }

  TEST_CASE("the heap goes back to the system once a burst of requests drains") {
    kept_rig r{0};
    r.request_bytes = 2 * mib; // below the burst size: nothing to give back
    r.keeper->pass();
    r.request_bytes = 0;
    r.keeper->pass();
    CHECK(r.keeper->stats().heap_returns == 0);
    r.request_bytes = 6 * mib; // a burst
    r.keeper->pass();
    CHECK(r.keeper->stats().heap_returns == 0); // still in flight
    r.request_bytes = 1 * mib;                  // drained below a quarter
    r.keeper->pass();
    CHECK(r.keeper->stats().heap_returns == 1);
    r.keeper->pass();
    CHECK(r.keeper->stats().heap_returns == 1); // once per burst
  }
}
