// The CPU arena's kept pages (decision 33): freed memory within the retain
// limit keeps its pages for the next allocation, past it pages go back to the
// operating system at once, and trim() gives back what was kept. Residency of
// pages is read with mincore(), so the checks see what the kernel holds.
#include "tessera/residency/cpu_arena.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

namespace {

using tessera::residency::cpu_arena;

constexpr size_t mib = 1u << 20;

// The share of the whole pages of [data, data + bytes) that are resident.
double resident_share(const std::byte* data, size_t bytes) {
  auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto first = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  auto last = (reinterpret_cast<uintptr_t>(data) + bytes) / page * page;
  REQUIRE(last > first);
  std::vector<unsigned char> flags((last - first) / page);
  REQUIRE(::mincore(reinterpret_cast<void*>(first), last - first, flags.data()) == 0);
  size_t resident = 0;
  for (auto f : flags)
    resident += f & 1u;
  return static_cast<double>(resident) / static_cast<double>(flags.size());
}

// Allocates `bytes`, writes every byte, and keeps the block's address.
tessera::backend::device_block filled(cpu_arena& arena, size_t bytes) {
  auto block = arena.allocate(bytes);
  REQUIRE(block);
  std::memset(block->data, 0x5a, bytes);
  return std::move(*block);
}

} // namespace

TEST_SUITE("arena") {
  TEST_CASE("without a retain limit a free gives the pages back at once") {
    cpu_arena arena{0, 64 * mib, 0};
    auto keep_region = filled(arena, mib); // so the region stays mapped
    auto b = filled(arena, 8 * mib);
    auto* data = b.data;
    CHECK(resident_share(data, 8 * mib) == doctest::Approx(1.0));
    b.owner.reset();
    CHECK(arena.cached_bytes() == 0);
    // The region may be backed by 2 MiB transparent huge pages: one that the
    // freed block shares with the kept one stays whole (a clean-clone run saw
    // 1 MiB of the 8 stay resident). Every page at least 2 MiB inside goes back.
    CHECK(resident_share(data + 2 * mib, 4 * mib) < 0.01);
  }

  TEST_CASE("freed memory within the limit keeps its pages and is reused first") {
    cpu_arena arena{0, 64 * mib, 16 * mib};
    auto keep_region = filled(arena, mib);
    auto b = filled(arena, 8 * mib);
    auto* data = b.data;
    b.owner.reset();
    CHECK(arena.cached_bytes() == 8 * mib);
    CHECK(arena.allocated_bytes() == mib);
    CHECK(resident_share(data, 8 * mib) == doctest::Approx(1.0));
    // The next allocation lands on the kept pages, before any free range.
    auto again = arena.allocate(6 * mib);
    REQUIRE(again);
    CHECK(again->data == data);
    CHECK(arena.cached_bytes() == 2 * mib);
    CHECK(resident_share(again->data, 6 * mib) == doctest::Approx(1.0));
  }

  TEST_CASE("past the limit a free gives its pages back") {
    cpu_arena arena{0, 64 * mib, 4 * mib};
    auto keep_region = filled(arena, mib);
    auto a = filled(arena, 4 * mib);
    auto b = filled(arena, 4 * mib);
    auto* a_data = a.data;
    auto* b_data = b.data;
    a.owner.reset();
    b.owner.reset();
    CHECK(arena.cached_bytes() == 4 * mib);
    CHECK(resident_share(a_data, 4 * mib) == doctest::Approx(1.0));
    // Past the huge page b may share with the kept a (see the first case).
    CHECK(resident_share(b_data + 2 * mib, 2 * mib) < 0.01);
  }

  TEST_CASE("trim gives every kept page back and unmaps empty regions") {
    cpu_arena arena{0, 64 * mib, 32 * mib};
    auto a = filled(arena, 8 * mib);
    auto* data = a.data;
    a.owner.reset();
    CHECK(arena.allocated_bytes() == 0);
    CHECK(arena.cached_bytes() == 8 * mib);
    CHECK(arena.regions() == 1); // kept pages hold the region
    CHECK(arena.trim() == 8 * mib);
    CHECK(arena.cached_bytes() == 0);
    CHECK(arena.regions() == 0);
    CHECK(arena.mapped_bytes() == 0);
    // A region that still has live blocks stays, its kept pages go.
    auto live = filled(arena, mib);
    auto b = filled(arena, 8 * mib);
    data = b.data;
    b.owner.reset();
    CHECK(arena.trim() == 8 * mib);
    CHECK(arena.regions() == 1);
    // Past the huge page b may share with the live block (see the first case).
    CHECK(resident_share(data + 2 * mib, 4 * mib) < 0.01);
  }

  TEST_CASE("kept ranges that split free space are joined before the arena grows") {
    cpu_arena arena{0, 64 * mib, 20 * mib};
    auto a = filled(arena, 20 * mib);
    auto b = filled(arena, 20 * mib);
    auto c = filled(arena, 20 * mib);
    auto* a_data = a.data;
    REQUIRE(arena.regions() == 1);
    a.owner.reset(); // kept: [0, 20)
    b.owner.reset(); // past the limit: free, pages given back
    CHECK(arena.cached_bytes() == 20 * mib);
    // 35 MiB fit neither the kept range nor the free one alone, only both.
    auto big = arena.allocate(35 * mib);
    REQUIRE(big);
    CHECK(big->data == a_data);
    CHECK(arena.regions() == 1);
    CHECK(arena.cached_bytes() == 0);
  }
}
