// A soak of load and unload cycles over the zoo through the LibTorch executor:
// afterwards every tier is back at zero and the process has not grown. Unload
// that fails to return memory is the complaint this guards against.
#include "residency_fixture.hpp"
#include "tessera/core/error.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace tessera;
using namespace tessera::test;

TEST_SUITE("soak") {
  TEST_CASE("1,000 load and unload cycles return every byte") {
    const auto& zoo = small_zoo::get();
    for (auto mode : {load_mode::copy, load_mode::in_place}) {
      CAPTURE(static_cast<int>(mode));
      residency_rig rig{*zoo.store, 1ull << 30, mode, false};
      auto exec = torch_backend::make_torch_executor({}, *rig.mgr, zoo.store->skeletons());
      REQUIRE(exec);
      std::mt19937_64 rng{7};
      int cycles = mode == load_mode::copy ? 1000 : 300;
      int warmup = cycles / 10;
      uint64_t rss_after_warmup = 0;
      uint64_t peak_used = 0;
      std::vector<std::shared_ptr<backend::loaded_model>> held;
      for (int i = 0; i < cycles; ++i) {
        // Up to three models resident at once, so loads share and unloads keep
        // blocks that another model still holds.
        const auto& m = zoo.models[rng() % zoo.models.size()].manifest;
        auto loaded = (*exec)->load(m);
        REQUIRE_MESSAGE(loaded, test::why(loaded));
        held.push_back(*loaded);
        peak_used = std::max(peak_used, rig.mgr->stats().device.used_bytes);
        if (held.size() > 2 || i == cycles - 1) {
          while (!held.empty()) {
            (*exec)->unload(held.front());
            held.erase(held.begin());
            if (rng() % 2 == 0)
              break;
          }
        }
        if (i + 1 == warmup)
          rss_after_warmup = rss_bytes();
      }
      while (!held.empty()) {
        (*exec)->unload(held.back());
        held.pop_back();
      }
      auto s = rig.mgr->stats();
      CHECK(s.counters.loads == static_cast<uint64_t>(cycles));
      CHECK(s.counters.unloads == static_cast<uint64_t>(cycles));
      CHECK(s.device.used_bytes == 0);
      CHECK(s.device.reserved_bytes == 0);
      CHECK(s.device.detached_bytes == 0);
      CHECK(rig.arena.allocated_bytes() == 0);
      CHECK(rig.mgr->blobs().empty());
      CHECK(peak_used > 0);
      auto rss_end = rss_bytes();
      MESSAGE("RSS after warm-up " << rss_after_warmup / 1e6 << " MB, at the end "
                                   << rss_end / 1e6 << " MB");
      CHECK(static_cast<double>(rss_end) <= 1.05 * static_cast<double>(rss_after_warmup));
    }
  }
}
