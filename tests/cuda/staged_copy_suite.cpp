#include "counting_host_allocator.hpp"
#include "fake_copy_engine.hpp"
#include "tessera/cuda/staged_copier.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <numeric>
#include <thread>

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

constexpr size_t chunk_bytes = 4096;

std::vector<std::byte> pattern(size_t bytes, uint32_t seed) {
  std::vector<std::byte> out(bytes);
  std::mt19937 rng{seed};
  for (auto& b : out)
    b = static_cast<std::byte>(rng());
  return out;
}

std::unique_ptr<cuda::pinned_staging_pool> heap_pool(size_t buffers) {
  auto pool =
      cuda::pinned_staging_pool::make(cuda::make_heap_host_allocator(), buffers, chunk_bytes);
  REQUIRE(pool);
  return std::move(*pool);
}

/// Fills chunks from `src`, as a file read would.
cuda::staged_copier::fill_fn fill_from(const std::vector<std::byte>& src) {
  return [&src](std::byte* buffer, uint64_t offset, size_t n) -> caf::error {
    std::memcpy(buffer, src.data() + offset, n);
    return {};
  };
}

} // namespace

TEST_SUITE("staged_copy") {
  TEST_CASE("the fake engine catches a buffer written again before its copy ran") {
    // The control for every test below: without waits, reuse is detected.
    fake_copy_engine engine;
    std::vector<std::byte> buffer(16, std::byte{1});
    std::vector<std::byte> dst(32);
    CHECK_FALSE(engine.enqueue_copy(dst.data(), buffer.data(), 16));
    std::fill(buffer.begin(), buffer.end(), std::byte{2}); // no wait: a bug
    CHECK_FALSE(engine.enqueue_copy(dst.data() + 16, buffer.data(), 16));
    REQUIRE(engine.drain());
    CHECK(engine.clobbered_sources() == 1);
    CHECK(dst[0] == std::byte{2}); // the first chunk got the second's bytes
  }

  TEST_CASE("chunks arrive intact and in order through a lazy engine, two in flight") {
    auto src = pattern(10 * chunk_bytes + 123, 7);
    std::vector<std::byte> dst(src.size());
    fake_copy_engine engine; // runs nothing until the host waits
    auto pool = heap_pool(2);
    {
      cuda::staged_copier copier{engine, *pool, 2};
      REQUIRE_FALSE(copier.copy(dst.data(), src.size(), fill_from(src)));
      const auto& f = copier.figures();
      CHECK(f.chunks == 11);
      CHECK(f.bytes == src.size());
      CHECK(f.max_in_flight == 2);
      // Back-pressure: every chunk after the first two waited for a buffer.
      CHECK(f.reuse_waits == 9);
      REQUIRE_FALSE(copier.flush());
    }
    CHECK(dst == src);
    CHECK(engine.clobbered_sources() == 0);
    CHECK(engine.max_pending_copies() == 2);
    CHECK(engine.events_released() == engine.events_recorded());
    // The host enqueues chunk k+2 only after waiting for chunk k's event.
    const auto& log = engine.log();
    auto first_wait = std::find(log.begin(), log.end(), "host waits 0");
    REQUIRE(first_wait != log.end());
    CHECK(std::count(log.begin(), first_wait, std::string{"copy"}) == 2);
  }

  TEST_CASE("at most `depth` buffers are in flight, whatever the device's pace") {
    for (size_t depth = 1; depth <= 4; ++depth)
      for (uint32_t seed = 1; seed <= 25; ++seed) {
        CAPTURE(depth);
        CAPTURE(seed);
        auto src = pattern(7 * chunk_bytes + 99, seed);
        std::vector<std::byte> dst(src.size());
        fake_copy_engine engine{0.4, seed};
        auto pool = heap_pool(depth);
        {
          cuda::staged_copier copier{engine, *pool, depth};
          REQUIRE_FALSE(copier.copy(dst.data(), src.size(), fill_from(src)));
          CHECK(copier.figures().max_in_flight <= depth);
        }
        CHECK(dst == src);
        CHECK(engine.clobbered_sources() == 0);
        CHECK(engine.max_pending_copies() <= depth);
      }
  }

  TEST_CASE("a device that keeps up makes the host wait for nothing") {
    auto src = pattern(6 * chunk_bytes, 3);
    std::vector<std::byte> dst(src.size());
    fake_copy_engine engine{1.0}; // runs queued work after every call
    auto pool = heap_pool(2);
    cuda::staged_copier copier{engine, *pool, 2};
    REQUIRE_FALSE(copier.copy(dst.data(), src.size(), fill_from(src)));
    CHECK(copier.figures().reuse_waits == 0);
    REQUIRE_FALSE(copier.flush());
    CHECK(dst == src);
  }

  TEST_CASE("several blobs reuse the same buffers; the compute stream waits on mark()") {
    auto a = pattern(3 * chunk_bytes, 1);
    auto b = pattern(2 * chunk_bytes + 5, 2);
    std::vector<std::byte> da(a.size());
    std::vector<std::byte> db(b.size());
    fake_copy_engine engine;
    auto pool = heap_pool(2);
    cuda::staged_copier copier{engine, *pool, 2};
    REQUIRE_FALSE(copier.copy(da.data(), a.size(), fill_from(a)));
    REQUIRE_FALSE(copier.copy(db.data(), b.size(), fill_from(b)));
    auto ready = copier.mark();
    REQUIRE(ready);
    REQUIRE_FALSE(engine.compute_waits_for(*ready));
    bool saw_both = false;
    engine.enqueue_compute("use", [&] { saw_both = da == a && db == b; });
    auto done = engine.record_compute_event();
    REQUIRE(done);
    REQUIRE_FALSE(engine.host_wait(*done));
    CHECK(saw_both);
    CHECK(pool->figures().acquisitions == 2); // one borrowing for both blobs
    CHECK(engine.clobbered_sources() == 0);
  }

  TEST_CASE("a failed read stops the copy and leaves nothing in flight") {
    auto src = pattern(5 * chunk_bytes, 4);
    std::vector<std::byte> dst(src.size());
    fake_copy_engine engine;
    auto pool = heap_pool(2);
    {
      cuda::staged_copier copier{engine, *pool, 2};
      auto fill = [&](std::byte* buffer, uint64_t offset, size_t n) -> caf::error {
        if (offset >= 3 * chunk_bytes)
          return make_error(ec::io_error, "disk gone");
        std::memcpy(buffer, src.data() + offset, n);
        return {};
      };
      auto err = copier.copy(dst.data(), src.size(), fill);
      REQUIRE(err);
      CHECK(code_of(err) == ec::io_error);
      CHECK(copier.figures().chunks == 3);
    }
    // The copier's destructor waited: the buffers went back with nothing queued.
    CHECK(pool->figures().lent == 0);
    CHECK(engine.events_released() == engine.events_recorded());
    CHECK(std::equal(dst.begin(), dst.begin() + 3 * chunk_bytes, src.begin()));
  }

  TEST_CASE("a second load waits for staging buffers a first load holds") {
    auto pool = heap_pool(3);
    fake_copy_engine e1;
    fake_copy_engine e2;
    auto first = std::make_unique<cuda::staged_copier>(e1, *pool, 2);
    std::atomic<bool> started{false};
    std::atomic<bool> first_gone{false};
    bool started_early = false;
    std::thread second{[&] {
      cuda::staged_copier copier{e2, *pool, 2};
      started_early = !first_gone.load();
      started = true;
    }};
    // The second copier counts its wait under the pool's lock before it
    // sleeps on it: once the count shows, it is waiting.
    auto give_up = std::chrono::steady_clock::now() + 30s;
    while (pool->figures().waits < 1) {
      REQUIRE(std::chrono::steady_clock::now() < give_up);
      std::this_thread::yield();
    }
    CHECK_FALSE(started.load());
    first_gone = true;
    first.reset();
    second.join();
    CHECK(started.load());
    CHECK_FALSE(started_early);
  }
}

TEST_SUITE("staged_copy") {
  TEST_CASE("two loads sharing a pool of two buffers both finish (no partial borrowing)") {
    auto pool = heap_pool(2);
    auto src = pattern(4 * chunk_bytes, 9);
    std::vector<std::byte> d1(src.size());
    std::vector<std::byte> d2(src.size());
    fake_copy_engine e1{0.3, 1};
    fake_copy_engine e2{0.3, 2};
    auto run = [&](fake_copy_engine& e, std::vector<std::byte>& dst) {
      for (int i = 0; i < 20; ++i) {
        cuda::staged_copier copier{e, *pool, 2};
        if (copier.copy(dst.data(), src.size(), fill_from(src)))
          return;
      }
    };
    std::thread t1{[&] { run(e1, d1); }};
    std::thread t2{[&] { run(e2, d2); }};
    t1.join();
    t2.join();
    CHECK(d1 == src);
    CHECK(d2 == src);
    CHECK(pool->figures().acquisitions == 80);
  }
}
