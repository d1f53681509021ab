// The residency manager's copy path on a device that cannot read host memory
// (the discrete-GPU case), run on a CPU: blobs go through staging buffers and a
// copy engine. The fake engine runs copies late and takes their bytes when they
// run, so a staging buffer refilled before its copy ran would show up as wrong
// device bytes; the suite checks the bytes, the overlap, and that corrupt blobs
// and missing engines still fail loads cleanly.
#include "cache_rig.hpp"
#include "error_text.hpp"
#include "fake_copy_engine.hpp"
#include "mobilenet_store.hpp"
#include "tessera/residency/residency_manager.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

using namespace tessera;
using namespace tessera::test;

namespace {

/// Device memory that is not host-accessible, so copy mode goes through
/// staging as on a discrete GPU, with fake copy engines.
struct staged_rig : cache_rig {
  std::vector<fake_copy_engine*> engines; ///< owned by the manager

  staged_rig() : cache_rig(1ull << 30, cuda::device_cache_options{0}) {
    // nop
  }

  residency::residency_options options(double progress, uint32_t seed) {
    residency::residency_options opts;
    opts.mode = load_mode::copy;
    opts.device_budget_bytes = 1ull << 30;
    opts.keep_unloaded = false;
    opts.staging_buffer_bytes = 16u << 10; // several chunks per large blob
    opts.copy_engines = [this, progress, seed]() -> caf::expected<std::unique_ptr<cuda::copy_engine>> {
      auto e = std::make_unique<fake_copy_engine>(progress, seed + static_cast<uint32_t>(engines.size()));
      engines.push_back(e.get());
      return std::unique_ptr<cuda::copy_engine>{std::move(e)};
    };
    return opts;
  }
};

} // namespace

TEST_SUITE("residency_copy") {
  TEST_CASE("blobs reach device memory intact through staging, with reads overlapping copies") {
    auto& zoo = mobilenet_store::get();
    const auto& m = zoo.base;
    auto refs = residency::blob_refs_of(m);
    auto largest = std::max_element(refs.begin(), refs.end(),
                                    [](auto& a, auto& b) { return a.bytes < b.bytes; })->bytes;
    REQUIRE(largest > 3 * (16u << 10)); // some blob takes more chunks than there are buffers
    for (double progress : {0.0, 0.3, 1.0}) {
      CAPTURE(progress);
      staged_rig rig;
      residency::residency_manager mgr{*zoo.store, *rig.memory, rig.options(progress, 7)};
      REQUIRE(rig.engines.size() == mgr.options().io_threads);
      auto lease = mgr.load(m.name, refs);
      REQUIRE_MESSAGE(lease, error_text(lease));
      for (const auto& r : refs) {
        auto t = (*lease)->tensor(r.id);
        REQUIRE(t);
        auto stored = zoo.store->blobs().read(r.id, store::read_method::map);
        REQUIRE(stored);
        REQUIRE(t->bytes == stored->bytes);
        CHECK(std::memcmp(t->data, stored->data, t->bytes) == 0);
      }
      auto s = mgr.stats();
      CHECK(s.counters.copies == s.counters.blobs_read); // each blob copied once
      CHECK(s.counters.bytes_copied == s.counters.bytes_read);
      CHECK(s.host.staging_in_use_bytes == 0); // every buffer went back
      size_t clobbered = 0, max_pending = 0, recorded = 0, released = 0;
      for (auto* e : rig.engines) {
        clobbered += e->clobbered_sources();
        max_pending = std::max(max_pending, e->max_pending_copies());
        recorded += e->events_recorded();
        released += e->events_released();
      }
      CHECK(clobbered == 0);
      CHECK(recorded > 0);
      CHECK(released == recorded);
      // Double buffering: with a lazy device, two copies are in flight at once
      // and never more; a device that keeps up never has two.
      CHECK(max_pending == (progress >= 1.0 ? 1 : 2));
      mgr.unload(*lease);
      CHECK(mgr.stats().device.used_bytes == 0);
    }
  }

  TEST_CASE("a corrupt blob is caught on its way through staging; nothing stays resident") {
    scratch_dir dir{"staged-corrupt"};
    auto st = store::block_store::open(dir.path());
    REQUIRE(st);
    std::vector<float> values(150000);
    std::iota(values.begin(), values.end(), 0.0f);
    auto id = st->blobs().put(tensor_spec{dtype::float32, {static_cast<int64_t>(values.size())}},
                              values.data());
    REQUIRE(id);
    auto path = st->blobs().path_of(*id);
    {
      std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
      REQUIRE(f);
      f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(path) - 1000));
      f.put('\x5a');
    }
    staged_rig rig;
    residency::residency_manager mgr{*st, *rig.memory, rig.options(0.0, 3)};
    auto lease = mgr.load("m", {{*id, values.size() * sizeof(float)}});
    REQUIRE_FALSE(lease);
    CHECK(code_of(lease.error()) == ec::corrupt_blob);
    CHECK(error_text(lease).find(id->short_hex()) != std::string::npos);
    CHECK(mgr.stats().device.used_bytes == 0);
    CHECK(rig.memory->allocated_bytes() == 0);
    for (auto* e : rig.engines)
      CHECK(e->clobbered_sources() == 0);
  }

  TEST_CASE("without a copy engine, copy-mode loads fail with the reason and leave nothing") {
    auto& zoo = mobilenet_store::get();
    staged_rig rig;
    auto opts = rig.options(0.0, 1);
    opts.copy_engines = []() -> caf::expected<std::unique_ptr<cuda::copy_engine>> {
      return make_error(ec::unsupported, "no GPU here");
    };
    residency::residency_manager mgr{*zoo.store, *rig.memory, opts};
    auto lease = mgr.load(zoo.base.name, residency::blob_refs_of(zoo.base));
    REQUIRE_FALSE(lease);
    CHECK(error_text(lease).find("no GPU here") != std::string::npos);
    CHECK(mgr.stats().device.used_bytes == 0);
    CHECK(mgr.stats().device.reserved_bytes == 0);
    CHECK(rig.memory->allocated_bytes() == 0);
  }
}
