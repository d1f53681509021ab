#include "counting_host_allocator.hpp"
#include "error_text.hpp"
#include "tessera/cuda/pinned_staging_pool.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<cuda::pinned_staging_pool> make_pool(std::shared_ptr<host_allocation_counts> counts,
                                                     size_t buffers, size_t bytes) {
  auto pool = cuda::pinned_staging_pool::make(std::make_unique<counting_host_allocator>(counts),
                                              buffers, bytes);
  REQUIRE_MESSAGE(pool, error_text(pool));
  return std::move(*pool);
}

} // namespace

TEST_SUITE("staging_pool") {
  TEST_CASE("the pool allocates its buffers once and reuses them") {
    auto counts = std::make_shared<host_allocation_counts>();
    {
      auto pool = make_pool(counts, 2, 64 << 10);
      CHECK(pool->total_bytes() == 2 * (64u << 10));
      std::set<std::byte*> seen;
      for (int i = 0; i < 100; ++i) {
        auto a = pool->acquire();
        auto b = pool->acquire();
        REQUIRE(a);
        REQUIRE(b);
        CHECK(a.data() != b.data());
        CHECK(a.bytes() == (64u << 10));
        seen.insert(a.data());
        seen.insert(b.data());
      }
      CHECK(seen.size() == 2);
      CHECK(counts->allocations == 2);
      auto f = pool->figures();
      CHECK(f.acquisitions == 200);
      CHECK(f.lent == 0);
      CHECK_FALSE(f.page_locked);
    }
    CHECK(counts->deallocations == 2);
  }

  TEST_CASE("the pool is bounded: a third lease waits until one comes back") {
    auto counts = std::make_shared<host_allocation_counts>();
    auto pool = make_pool(counts, 2, 4096);
    auto a = pool->acquire();
    auto b = pool->acquire();
    CHECK(pool->figures().lent == 2);
    CHECK_FALSE(pool->try_acquire_for(20ms));
    auto* first = a.data();
    a = cuda::staging_lease{}; // gives the buffer back
    auto c = pool->try_acquire_for(20ms);
    REQUIRE(c);
    CHECK(c.data() == first);
    CHECK(counts->allocations == 2);
  }

  TEST_CASE("acquire blocks a second thread until a buffer is given back (back-pressure)") {
    auto counts = std::make_shared<host_allocation_counts>();
    auto pool = make_pool(counts, 1, 4096);
    auto held = pool->acquire();
    std::atomic<bool> released{false};
    std::atomic<bool> got{false};
    bool got_before_release = false;
    std::thread waiter{[&] {
      auto lease = pool->acquire();
      got_before_release = !released.load();
      got = true;
    }};
    // The waiter counts its wait under the pool's lock before it sleeps on it:
    // once the count shows, it is waiting (no guess at how long it takes to start).
    auto give_up = std::chrono::steady_clock::now() + 30s;
    while (pool->figures().waits < 1) {
      REQUIRE(std::chrono::steady_clock::now() < give_up);
      std::this_thread::yield();
    }
    CHECK_FALSE(got.load());
    released = true;
    held = cuda::staging_lease{};
    waiter.join();
    CHECK(got.load());
    CHECK_FALSE(got_before_release);
    CHECK(pool->figures().waits == 1);
  }

  TEST_CASE("a failed allocation fails the pool and frees what it had") {
    auto counts = std::make_shared<host_allocation_counts>();
    auto pool = cuda::pinned_staging_pool::make(
        std::make_unique<counting_host_allocator>(counts, 3), 4, 4096);
    REQUIRE_FALSE(pool);
    CHECK(code_of(pool.error()) == ec::out_of_memory);
    CHECK(describe(pool.error()).find("buffer 3 of 4") != std::string::npos);
    CHECK(counts->allocations == 2);
    CHECK(counts->deallocations == 2);
  }

  TEST_CASE("a pool of no buffers is refused") {
    auto pool = cuda::pinned_staging_pool::make(cuda::make_heap_host_allocator(), 0, 4096);
    REQUIRE_FALSE(pool);
    CHECK(code_of(pool.error()) == ec::invalid_argument);
  }
}
