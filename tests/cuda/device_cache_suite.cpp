#include "cache_rig.hpp"
#include "error_text.hpp"
#include "mobilenet_store.hpp"
#include "tessera/cuda/caching_device_memory.hpp"
#include "tessera/cuda/memory_figures.hpp"
#include "tessera/residency/blob_transfer.hpp"
#include "tessera/residency/cpu_arena.hpp"
#include "tessera/residency/residency_manager.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace tessera;
using namespace tessera::test;

namespace {

constexpr uint64_t mib = 1u << 20;

} // namespace

TEST_SUITE("device_cache") {
  TEST_CASE("requests are rounded to 512 bytes below 1 MiB and to 2 MiB above") {
    CHECK(cuda::rounded_allocation_bytes(0) == 512);
    CHECK(cuda::rounded_allocation_bytes(1) == 512);
    CHECK(cuda::rounded_allocation_bytes(513) == 1024);
    CHECK(cuda::rounded_allocation_bytes(mib) == mib);
    CHECK(cuda::rounded_allocation_bytes(mib + 1) == 2 * mib);
    CHECK(cuda::rounded_allocation_bytes(5 * mib) == 6 * mib);
  }

  TEST_CASE("a freed block serves the next request of its size without the driver") {
    cache_rig rig;
    std::byte* first = nullptr;
    {
      auto b = rig.memory->allocate(3 * mib);
      REQUIRE(b);
      first = b->data;
      CHECK(rig.memory->allocated_bytes() == 4 * mib);
    }
    auto f = rig.memory->figures();
    CHECK(f.live_bytes == 0);
    CHECK(f.cached_bytes == 4 * mib);
    CHECK(f.reserved_bytes == 4 * mib);
    auto again = rig.memory->allocate(3 * mib + 100);
    REQUIRE(again);
    CHECK(again->data == first);
    CHECK(rig.memory->figures().cache_hits == 1);
    CHECK(rig.counts->allocations == 1);
  }

  TEST_CASE("a large cached block is not spent on a much smaller request") {
    cache_rig rig;
    {
      auto big = rig.memory->allocate(16 * mib);
      REQUIRE(big);
    }
    auto small = rig.memory->allocate(2 * mib);
    REQUIRE(small);
    CHECK(rig.memory->figures().cache_hits == 0);
    CHECK(rig.counts->allocations == 2);
  }

  TEST_CASE("trim returns every cached byte to the driver, and the driver's view shows it") {
    cache_rig rig;
    for (int i = 0; i < 4; ++i) {
      auto b = rig.memory->allocate(2 * mib);
      REQUIRE(b);
    }
    // Sequential frees and reuse: one block did all the work.
    CHECK(rig.counts->allocations == 1);
    auto held = rig.memory->allocate(mib);
    REQUIRE(held);
    auto before = rig.memory->driver_view();
    REQUIRE(before);
    CHECK(before->free_bytes == 64 * mib - 3 * mib);
    CHECK(rig.memory->trim() == 2 * mib);
    auto after = rig.memory->driver_view();
    REQUIRE(after);
    CHECK(after->free_bytes == 64 * mib - mib);
    auto f = rig.memory->figures();
    CHECK(f.cached_bytes == 0);
    CHECK(f.reserved_bytes == mib);
    CHECK(f.trimmed_bytes == 2 * mib);
  }

  TEST_CASE("with the cache full or off, freed blocks go straight back") {
    cuda::device_cache_options off;
    off.cache_limit_bytes = 0;
    cache_rig rig{64 * mib, off};
    {
      auto b = rig.memory->allocate(2 * mib);
      REQUIRE(b);
    }
    CHECK(rig.counts->live_bytes == 0);
    CHECK(rig.counts->frees == 1);
    CHECK(rig.memory->figures().cached_bytes == 0);
  }

  TEST_CASE("when the driver is out of memory, the cache is trimmed and the request retried") {
    cache_rig rig{8 * mib};
    {
      auto b = rig.memory->allocate(4 * mib);
      REQUIRE(b);
    }
    auto big = rig.memory->allocate(6 * mib);
    REQUIRE_MESSAGE(big, error_text(big));
    CHECK(rig.memory->figures().trimmed_bytes == 4 * mib);
    auto none = rig.memory->allocate(4 * mib);
    REQUIRE_FALSE(none);
    CHECK(code_of(none.error()) == ec::out_of_memory);
  }

  TEST_CASE("a block that outlives its device memory object still goes back to the driver") {
    cache_rig rig;
    auto b = rig.memory->allocate(mib);
    REQUIRE(b);
    rig.memory.reset();
    CHECK(rig.counts->live_bytes == mib);
    b->owner.reset();
    CHECK(rig.counts->live_bytes == 0);
  }

  TEST_CASE("the monitor shows Tessera's, the allocator's and the driver's view") {
    cache_rig rig;
    auto b = rig.memory->allocate(3 * mib);
    REQUIRE(b);
    auto fw = [] { return std::optional<cuda::framework_allocator_figures>{{mib, 2 * mib}}; };
    auto f = cuda::sample_device_memory(*rig.memory, fw);
    CHECK(f.device == "heap:0");
    CHECK(f.tessera_live_bytes == 4 * mib);
    REQUIRE(f.allocator);
    CHECK(f.allocator->reserved_bytes == 4 * mib);
    REQUIRE(f.driver);
    CHECK(f.driver->total_bytes == 64 * mib);
    CHECK(f.driver->free_bytes == 60 * mib);
    REQUIRE(f.framework);
    CHECK(f.framework->reserved_bytes == 2 * mib);
    auto text = cuda::describe(f);
    CHECK(text.find("driver free 60.0 MiB of 64.0 MiB") != std::string::npos);
  }

  TEST_CASE("on a CPU the monitor reports the arena, and says there is no driver view") {
    residency::cpu_arena arena;
    auto b = arena.allocate(1000);
    REQUIRE(b);
    auto f = cuda::sample_device_memory(arena);
    CHECK(f.device == "cpu");
    CHECK(f.tessera_live_bytes == arena.allocated_bytes());
    CHECK(f.tessera_live_bytes >= 1000);
    CHECK_FALSE(f.allocator);
    CHECK_FALSE(f.driver);
    CHECK_FALSE(f.note.empty());
  }

  TEST_CASE("the residency manager loads through staging into caching device memory; "
            "after 100 load and unload cycles and a trim, memory is back at baseline") {
    auto& zoo = mobilenet_store::get();
    cache_rig rig{1ull << 30};
    residency::residency_options opts;
    opts.device_budget_bytes = 1ull << 30;
    opts.mode = load_mode::copy;
    opts.keep_unloaded = false;
    residency::residency_manager mgr{*zoo.store, *rig.memory, opts};
    const auto& m = zoo.base;
    uint64_t device_allocations_after_first = 0;
    for (int cycle = 0; cycle < 100; ++cycle) {
      auto lease = mgr.load(m.name, residency::blob_refs_of(m));
      REQUIRE_MESSAGE(lease, error_text(lease));
      if (cycle == 0) {
        device_allocations_after_first = rig.counts->allocations;
        // The bytes really went through copies into the device's memory.
        CHECK(rig.counts->copies > 0);
        // The largest blob went through staging in chunks; its device bytes
        // equal the store's.
        auto refs = residency::blob_refs_of(m);
        auto big = *std::max_element(refs.begin(), refs.end(),
                                     [](auto& a, auto& b) { return a.bytes < b.bytes; });
        CHECK(big.bytes > residency::small_blob_bytes);
        auto t = (*lease)->tensor(big.id);
        REQUIRE(t);
        auto stored = zoo.store->blobs().read(big.id, store::read_method::map);
        REQUIRE(stored);
        REQUIRE(t->bytes == stored->bytes);
        CHECK(std::memcmp(t->data, stored->data, t->bytes) == 0);
        CHECK(rig.counts->blocks.count(const_cast<std::byte*>(t->data)) == 1);
      }
      mgr.unload(*lease);
    }
    CHECK(mgr.stats().device.used_bytes == 0);
    CHECK(rig.memory->allocated_bytes() == 0);
    // The cache served every cycle after the first (blob sizes repeat).
    CHECK(rig.counts->allocations == device_allocations_after_first);
    rig.memory->trim();
    CHECK(rig.counts->live_bytes == 0);
    CHECK(rig.memory->figures().reserved_bytes == 0);
  }
}
