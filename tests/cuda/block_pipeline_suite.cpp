#include "error_text.hpp"
#include "fake_copy_engine.hpp"
#include "tessera/cuda/block_pipeline.hpp"
#include "tessera/cuda/staged_copier.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace tessera;
using namespace tessera::test;

namespace {

constexpr size_t block_bytes = 3 * 1024 + 17; // three chunks of 1 KiB and a tail

/// A model of `blocks` blocks run through `window` device slots: block k is
/// copied into slot k % window, and its compute checks the slot holds block k.
struct swap_rig {
  fake_copy_engine engine;
  std::unique_ptr<cuda::pinned_staging_pool> pool;
  std::unique_ptr<cuda::staged_copier> copier;
  size_t window;
  std::vector<std::vector<std::byte>> host;  // each block's bytes
  std::vector<std::vector<std::byte>> slots; // device memory
  std::vector<std::string> order;            // host-side calls, "T0" "C0" "R0"
  std::vector<bool> computed_right;          // what each compute saw
  std::vector<bool> computed;                // compute k has run (on the device)
  std::vector<size_t> copies_before_compute; // copies enqueued when compute k ran
  size_t copies_enqueued = 0;
  size_t released_before_compute = 0;

  swap_rig(size_t blocks, size_t window, double progress = 0.0, uint32_t seed = 1)
      : engine(progress, seed), window(window), slots(window, std::vector<std::byte>(block_bytes)),
        computed_right(blocks), computed(blocks), copies_before_compute(blocks) {
    auto p = cuda::pinned_staging_pool::make(cuda::make_heap_host_allocator(), 2, 1024);
    REQUIRE(p);
    pool = std::move(*p);
    copier = std::make_unique<cuda::staged_copier>(engine, *pool, 2);
    for (size_t k = 0; k < blocks; ++k) {
      host.emplace_back(block_bytes);
      for (size_t i = 0; i < block_bytes; ++i)
        host[k][i] = static_cast<std::byte>((k * 131 + i * 7) & 0xff);
    }
  }

  cuda::block_steps steps() {
    cuda::block_steps s;
    s.transfer = [this](size_t k) -> caf::error {
      order.push_back("T" + std::to_string(k));
      const auto& src = host[k];
      return copier->copy(slots[k % window].data(), block_bytes,
                          [&](std::byte* buf, uint64_t off, size_t n) -> caf::error {
                            std::memcpy(buf, src.data() + off, n);
                            ++copies_enqueued;
                            return {};
                          });
    };
    s.compute = [this](size_t k) -> caf::error {
      order.push_back("C" + std::to_string(k));
      engine.enqueue_compute(std::to_string(k), [this, k] {
        computed_right[k] = slots[k % window] == host[k];
        computed[k] = true;
        copies_before_compute[k] = copies_enqueued;
      });
      return {};
    };
    s.release = [this](size_t k) {
      order.push_back("R" + std::to_string(k));
      released_before_compute += computed[k] ? 0 : 1;
    };
    return s;
  }
};

size_t index_of(const std::vector<std::string>& v, const std::string& x) {
  return static_cast<size_t>(std::find(v.begin(), v.end(), x) - v.begin());
}

} // namespace

TEST_SUITE("block_pipeline") {
  TEST_CASE("block k+1 transfers while block k computes, two blocks resident") {
    swap_rig rig{6, 2};
    auto run = cuda::run_block_pipeline(rig.engine, 6, 2, rig.steps());
    REQUIRE_MESSAGE(run, error_text(run));
    CHECK(run->max_resident_blocks == 2);
    for (size_t k = 0; k < 6; ++k) {
      CAPTURE(k);
      CHECK(rig.computed_right[k]);
      // Block k+1's transfer is issued right after block k's compute, before
      // block k+1's compute: on a GPU the two overlap.
      if (k + 1 < 6) {
        CHECK(index_of(rig.order, "C" + std::to_string(k)) <
              index_of(rig.order, "T" + std::to_string(k + 1)));
        CHECK(index_of(rig.order, "T" + std::to_string(k + 1)) <
              index_of(rig.order, "C" + std::to_string(k + 1)));
        // When compute k ran on the lazy device, block k+1's copies were queued.
        CHECK(rig.copies_before_compute[k] >= (k + 2) * 4);
      }
    }
    // Block k+2 takes block k's slot only after block k's compute completed.
    CHECK(rig.released_before_compute == 0);
    CHECK(index_of(rig.order, "R0") < index_of(rig.order, "T2"));
    CHECK(std::count_if(rig.order.begin(), rig.order.end(), [](auto& s) { return s[0] == 'R'; }) ==
          6);
    CHECK(rig.engine.clobbered_sources() == 0);
  }

  TEST_CASE("a window of one block runs transfer and compute one after the other") {
    swap_rig rig{4, 1};
    auto run = cuda::run_block_pipeline(rig.engine, 4, 1, rig.steps());
    REQUIRE(run);
    CHECK(run->max_resident_blocks == 1);
    CHECK(rig.order == std::vector<std::string>{"T0", "C0", "R0", "T1", "C1", "R1", "T2", "C2",
                                                "R2", "T3", "C3", "R3"});
    CHECK(run->compute_waits == 4); // before each next transfer, and at the end
    for (size_t k = 0; k < 4; ++k)
      CHECK(rig.computed_right[k]);
  }

  TEST_CASE(
      "whatever the device's pace, every compute sees its own block and memory is reused safely") {
    for (size_t window = 1; window <= 3; ++window)
      for (uint32_t seed = 1; seed <= 30; ++seed) {
        CAPTURE(window);
        CAPTURE(seed);
        swap_rig rig{7, window, 0.35, seed};
        auto run = cuda::run_block_pipeline(rig.engine, 7, window, rig.steps());
        REQUIRE(run);
        CHECK(run->max_resident_blocks <= window);
        CHECK(std::all_of(rig.computed_right.begin(), rig.computed_right.end(),
                          [](bool b) { return b; }));
        CHECK(rig.released_before_compute == 0);
        CHECK(rig.engine.clobbered_sources() == 0);
      }
  }

  TEST_CASE("a failed transfer stops the run, names the block and releases what was resident") {
    swap_rig rig{5, 2};
    auto steps = rig.steps();
    auto transfer = steps.transfer;
    steps.transfer = [&](size_t k) -> caf::error {
      if (k == 3)
        return make_error(ec::corrupt_blob, "bad bytes");
      return transfer(k);
    };
    auto run = cuda::run_block_pipeline(rig.engine, 5, 2, steps);
    REQUIRE_FALSE(run);
    CHECK(code_of(run.error()) == ec::corrupt_blob);
    CHECK(describe(run.error()).find("block 3") != std::string::npos);
    // Blocks 0..3 were admitted (3 failed), all released, after their compute.
    CHECK(std::count_if(rig.order.begin(), rig.order.end(), [](auto& s) { return s[0] == 'R'; }) ==
          4);
    CHECK(rig.released_before_compute == 1); // block 3 never computed
    CHECK(rig.engine.drain());
  }

  TEST_CASE("a window of zero is refused") {
    swap_rig rig{2, 1};
    auto run = cuda::run_block_pipeline(rig.engine, 2, 0, rig.steps());
    REQUIRE_FALSE(run);
    CHECK(code_of(run.error()) == ec::invalid_argument);
  }
}
