#include "error_of.hpp"
#include "page_cache.hpp"
#include "residency_fixture.hpp"
#include "skip.hpp"
#include "src/readahead_plan.hpp" // the plan alone, driven step by step
#include "tessera/core/error.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <chrono>
#include <random>
#include <thread>
#include <unordered_set>

#include <fcntl.h>
#include <unistd.h>

using namespace tessera;
using namespace tessera::test;
using residency::lease_ptr;

namespace {

const model_manifest& zm(const char* name) {
  return small_zoo::get().manifest(name);
}

lease_ptr must_load(residency::residency_manager& mgr, const model_manifest& m) {
  auto l = mgr.load(m.name, residency::blob_refs_of(m));
  REQUIRE_MESSAGE(l, test::why(l));
  return *l;
}

bool is_resident(const residency::residency_manager& mgr, const content_id& id) {
  for (const auto& b : mgr.blobs())
    if (b.id == id && !b.loading)
      return true;
  return false;
}

} // namespace

TEST_SUITE("residency") {
  TEST_CASE("a second model of a family reads only the blocks that are missing") {
    for (int variant = 0; variant < 3; ++variant) {
      CAPTURE(variant);
      auto mode = variant == 0 ? load_mode::in_place : load_mode::copy;
      bool staged = variant == 2; // the discrete-GPU path: through staging buffers
      residency_rig rig{*small_zoo::get().store, 1ull << 30, mode, true, 0,
                        eviction_policy::cost_aware, staged};
      auto a = must_load(*rig.mgr, zm("resnet18"));
      auto b = must_load(*rig.mgr, zm("resnet-cars"));
      CHECK(a->report().bytes_read == model_bytes(zm("resnet18")));
      auto unshared = model_bytes(zm("resnet-cars")) - shared_bytes(zm("resnet18"), zm("resnet-cars"));
      CHECK(b->report().bytes_read == unshared);
      CHECK(b->report().blobs_hit > 0);
      auto s = rig.mgr->stats();
      CHECK(s.device.used_bytes == model_bytes(zm("resnet18")) + unshared);
      CHECK(s.resident_models == std::vector<std::string>{"resnet-cars", "resnet18"});
      // A shared blob is one resident copy viewed by both leases.
      auto shared_id = residency::blob_refs_of(zm("resnet18")).front().id;
      auto ta = a->tensor(shared_id);
      auto tb = b->tensor(shared_id);
      REQUIRE(ta);
      REQUIRE(tb);
      CHECK(ta->data == tb->data);
      check_accounting(*rig.mgr, rig.arena);
      if (staged) {
        CHECK(s.counters.copies == s.counters.blobs_read);
        CHECK(s.host.staging_bytes > 0);
        CHECK(s.host.staging_in_use_bytes == 0);
      } else {
        CHECK(s.counters.copies == 0); // read straight into place, no second copy
      }
      if (mode == load_mode::copy) { // the files read are kept mapped (decision 34)
        CHECK(s.host.store_mappings > 0);
        CHECK(s.host.store_mappings_watched == s.host.store_mappings); // a local store
        CHECK(s.host.store_mapped_bytes >= s.device.used_bytes);
      }
      if (staged) { // and staging copies from those mappings the next time
        auto& maps = small_zoo::get().store->blobs().mappings();
        auto hits = maps.counts().hits;
        residency_rig again{*small_zoo::get().store, 1ull << 30, mode, true, 0,
                            eviction_policy::cost_aware, staged};
        auto a2 = must_load(*again.mgr, zm("resnet18"));
        CHECK(maps.counts().hits == hits + a2->report().blobs_read);
        auto first = residency::blob_refs_of(zm("resnet18")).front().id;
        REQUIRE(a2->tensor(first));
        REQUIRE(a->tensor(first));
        CHECK(std::memcmp(a2->tensor(first)->data, a->tensor(first)->data,
                          a->tensor(first)->bytes) == 0);
      }
      if (mode == load_mode::in_place)
        CHECK(s.host.aliased_bytes == s.device.used_bytes);
      // The tensors hold the stored bytes, whichever way they came.
      auto blob = rig.mgr->blobs().front();
      auto stored = small_zoo::get().store->blobs().read(blob.id, store::read_method::copy);
      REQUIRE(stored);
      auto held = (a->tensor(blob.id) ? a : b)->tensor(blob.id);
      REQUIRE(held);
      CHECK(std::memcmp(held->data, stored->data, stored->bytes) == 0);
    }
  }

  TEST_CASE("accounting invariants hold under random load, pin, unpin and unload") {
    const auto& zoo = small_zoo::get();
    uint64_t family = 0;
    std::vector<const model_manifest*> models;
    for (const auto& e : zoo.models) {
      models.push_back(&e.manifest);
      family = std::max<uint64_t>(family, model_bytes(e.manifest));
    }
    for (auto mode : {load_mode::in_place, load_mode::copy}) {
      for (uint64_t seed : {1u, 2u, 3u}) {
        CAPTURE(seed);
        residency_rig rig{*zoo.store, family * 5 / 2, mode, seed != 2};
        std::mt19937_64 rng{seed};
        std::vector<lease_ptr> leases;
        std::vector<std::pair<lease_ptr, residency::pin_guard>> pinned;
        int refused = 0;
        for (int step = 0; step < 150; ++step) {
          auto op = rng() % 6;
          if (op <= 1) {
            const auto& m = *models[rng() % models.size()];
            auto l = rig.mgr->load(m.name, residency::blob_refs_of(m));
            if (l)
              leases.push_back(*l);
            else {
              CHECK(code_of(l.error()) == ec::out_of_memory);
              ++refused;
            }
          } else if (op == 2 && !leases.empty()) {
            auto& l = leases[rng() % leases.size()];
            auto pin = l->pin();
            REQUIRE(pin);
            pinned.emplace_back(l, std::move(*pin));
          } else if (op == 3 && !pinned.empty()) {
            pinned.erase(pinned.begin() + static_cast<long>(rng() % pinned.size()));
          } else if (op == 4 && !leases.empty()) {
            auto i = rng() % leases.size();
            bool held = false;
            for (auto& p : pinned)
              held = held || p.first == leases[i];
            if (!held) { // unload would wait for this thread's own pin
              rig.mgr->unload(leases[i]);
              CHECK(leases[i]->released());
              leases.erase(leases.begin() + static_cast<long>(i));
            }
          } else if (op == 5) {
            rig.mgr->drop_cached();
          }
          check_accounting(*rig.mgr, rig.arena);
          std::unordered_set<content_id> resident;
          for (const auto& b : rig.mgr->blobs())
            if (!b.loading)
              resident.insert(b.id);
          size_t pinned_missing = 0;
          for (auto& p : pinned)
            for (const auto& b : p.first->blobs())
              pinned_missing += resident.count(b.id) == 0 ? 1 : 0;
          CHECK(pinned_missing == 0);
        }
        CHECK(refused > 0); // the budget was tight enough to refuse some loads
        pinned.clear();
        for (auto& l : leases)
          rig.mgr->unload(l);
        leases.clear();
        rig.mgr->drop_cached();
        auto s = rig.mgr->stats();
        CHECK(s.device.used_bytes == 0);
        CHECK(rig.arena.allocated_bytes() == 0);
      }
    }
  }

  TEST_CASE("unload waits for pins, then the memory really comes back") {
    const auto& m = zm("vit-tiny");
    residency_rig rig{*small_zoo::get().store, 1ull << 30, load_mode::copy, false};
    auto rss_before = rss_bytes();
    auto l = must_load(*rig.mgr, m);
    CHECK(rig.arena.allocated_bytes() == model_bytes(m));
    auto rss_loaded = rss_bytes();
    CHECK(rss_loaded >= rss_before + model_bytes(m) * 9 / 10);
    auto pin = l->pin();
    REQUIRE(pin);
    std::atomic<bool> unloaded{false};
    std::thread unloader{[&] {
      rig.mgr->unload(l);
      unloaded = true;
    }};
    // Once the unloader has begun to drain, new pins are refused: wait for
    // that (a pin taken before it is given back at once), not for a time.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      auto late = l->pin();
      if (!late) {
        CHECK(code_of(late.error()) == ec::unloading); // draining refuses new pins
        break;
      }
      late->release();
      REQUIRE(std::chrono::steady_clock::now() < give_up);
      std::this_thread::yield();
    }
    CHECK_FALSE(unloaded.load()); // still pinned: unload waits for the first pin
    CHECK(rig.mgr->stats().device.used_bytes == model_bytes(m));
    pin->release();
    unloader.join();
    CHECK(unloaded.load());
    CHECK(rig.mgr->stats().device.used_bytes == 0);
    CHECK(rig.arena.allocated_bytes() == 0);
    CHECK(rig.arena.mapped_bytes() == 0);
    CHECK(rss_bytes() <= rss_loaded - model_bytes(m) * 9 / 10);
  }

  TEST_CASE("a load larger than the whole budget is refused at once") {
    const auto& m = zm("resnet18");
    residency_rig rig{*small_zoo::get().store, model_bytes(m) / 2, load_mode::in_place};
    auto l = rig.mgr->load(m.name, residency::blob_refs_of(m));
    REQUIRE_FALSE(l);
    CHECK(code_of(l.error()) == ec::out_of_memory);
    CHECK(describe(l.error()).find("can never") != std::string::npos);
    auto s = rig.mgr->stats();
    CHECK(s.device.used_bytes == 0);
    CHECK(s.counters.blobs_read == 0);
    CHECK(s.counters.refused_loads == 1);
  }

  TEST_CASE("memory that resident models hold is never taken; cached blocks are evicted") {
    const auto& a = zm("resnet18");
    const auto& b = zm("mobilenetv2");
    auto budget = model_bytes(a) + model_bytes(b) / 2;
    residency_rig rig{*small_zoo::get().store, budget, load_mode::in_place};
    auto la = must_load(*rig.mgr, a);
    auto refused = rig.mgr->load(b.name, residency::blob_refs_of(b));
    REQUIRE_FALSE(refused);
    CHECK(code_of(refused.error()) == ec::out_of_memory);
    CHECK(describe(refused.error()).find("resnet18") != std::string::npos);
    for (const auto& r : la->blobs())
      CHECK(is_resident(*rig.mgr, r.id));
    // Once resnet18 is unloaded its blocks are only cached, and make room.
    rig.mgr->unload(la);
    CHECK(rig.mgr->stats().device.cached_bytes == model_bytes(a));
    auto lb = must_load(*rig.mgr, b);
    CHECK(lb->report().bytes_evicted > 0);
    CHECK(rig.mgr->stats().counters.evictions > 0);
    check_accounting(*rig.mgr, rig.arena);
  }

  TEST_CASE("a block shared with a resident model stays while that model needs it") {
    const auto& base = zm("resnet18");
    const auto& cars = zm("resnet-cars");
    const auto& other = zm("mobilenetv2");
    auto budget = model_bytes(base) + model_bytes(other) + model_bytes(other) / 4;
    residency_rig rig{*small_zoo::get().store, budget, load_mode::in_place};
    auto lbase = must_load(*rig.mgr, base);
    auto lcars = must_load(*rig.mgr, cars);
    rig.mgr->unload(lcars); // its head is cached; the shared trunk is still held by base
    auto lother = must_load(*rig.mgr, other);
    for (const auto& r : residency::blob_refs_of(base))
      CHECK(is_resident(*rig.mgr, r.id));
    check_accounting(*rig.mgr, rig.arena);
  }

  TEST_CASE("a load in flight is never started twice") {
    const auto& m = zm("vit-tiny");
    residency_rig rig{*small_zoo::get().store, 1ull << 30, load_mode::copy};
    std::vector<std::thread> threads;
    std::vector<lease_ptr> got(4);
    for (size_t i = 0; i < got.size(); ++i)
      threads.emplace_back([&, i] {
        auto l = rig.mgr->load(m.name + "#" + std::to_string(i), residency::blob_refs_of(m));
        if (l)
          got[i] = *l;
      });
    for (auto& t : threads)
      t.join();
    for (auto& l : got)
      REQUIRE(l != nullptr);
    auto s = rig.mgr->stats();
    CHECK(s.counters.blobs_read == residency::blob_refs_of(m).size());
    CHECK(s.counters.bytes_read == model_bytes(m));
    CHECK(s.device.used_bytes == model_bytes(m));
    check_accounting(*rig.mgr, rig.arena);
  }

  TEST_CASE("prefetch brings blocks in at low priority, within the low watermark") {
    const auto& m = zm("mobilenetv2");
    residency_rig rig{*small_zoo::get().store, 1ull << 30, load_mode::copy};
    auto queued = rig.mgr->prefetch(residency::blob_refs_of(m));
    CHECK(queued == residency::blob_refs_of(m).size());
    auto l = must_load(*rig.mgr, m); // joins whatever is still in flight
    CHECK(l->report().bytes_read == 0);
    CHECK(l->report().blobs_hit + l->report().blobs_joined == queued);
    CHECK(rig.mgr->stats().counters.prefetched_blobs == queued);
    // With a budget just above the model, prefetch stops at the low watermark.
    residency_rig tight{*small_zoo::get().store, model_bytes(m), load_mode::copy};
    tight.mgr->prefetch(residency::blob_refs_of(m));
    auto l2 = must_load(*tight.mgr, m);
    auto s = tight.mgr->stats();
    CHECK(s.counters.prefetched_blobs < queued);
    CHECK(s.device.used_bytes == model_bytes(m));
  }

  // Decision 41: once a load's reads go to the disk, each task asks the kernel
  // for the files ahead of it, up to the window, each file once.
  TEST_CASE("a read-ahead plan advises the files within its window once it has seen the disk") {
    const auto& blobs = small_zoo::get().store->blobs();
    std::vector<content_id> ids;
    for (int i = 0; i < 4; ++i)
      ids.push_back(skeleton_id_of("test", "file " + std::to_string(i))); // none on disk
    residency::readahead_plan plan{ids, {4, 4, 4, 4}, 10};
    CHECK(plan.advance(0, blobs) == 0); // page-cache reads advise nothing
    CHECK_FALSE(plan.cold());
    plan.saw_disk();
    CHECK(plan.advance(0, blobs) == 3); // entries 0-2 start within 10 bytes of entry 0's start
    CHECK(plan.advance(0, blobs) == 0); // each file once
    CHECK(plan.advance(1, blobs) == 1); // entry 3 starts 8 bytes after entry 1
    CHECK(plan.advance(3, blobs) == 0);
    CHECK(plan.advised_files() == 4);
  }

  TEST_CASE("a cold load has the kernel read its next files ahead; a warm one asks for nothing") {
    auto& st = *small_zoo::get().store;
    const auto& m = zm("resnet18");
    auto refs = residency::blob_refs_of(m);
    REQUIRE(refs.size() > 1);
    // Mapped pages stay cached: the loads below start without kept mappings.
    st.blobs().mappings().clear();
    for (const auto& r : refs)
      test::drop_pages(st.blobs().path_of(r.id));
    // Whether this machine can show it: dropped pages gone, reads counted.
    auto probe = st.blobs().path_of(refs.front().id);
    auto before = residency::thread_blocks_read();
    std::vector<std::byte> buf(4096);
    if (int fd = ::open(probe.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
      CHECK(::pread(fd, buf.data(), buf.size(), 0) > 0);
      ::close(fd);
    }
    if (residency::thread_blocks_read() == before) {
      TESSERA_SKIP("reads of dropped pages are not counted here (a file system that keeps them, "
                   "or no task I/O accounting): nothing to observe");
    }
    test::drop_pages(probe);
    residency_rig cold{st, 1ull << 30, load_mode::copy};
    auto l = must_load(*cold.mgr, m);
    CHECK(cold.mgr->stats().counters.readahead_blobs > 0);
    // The first load kept the files mapped, and their pages are cached.
    residency_rig warm{st, 1ull << 30, load_mode::copy};
    auto l2 = must_load(*warm.mgr, m);
    CHECK(warm.mgr->stats().counters.readahead_blobs == 0);
    CHECK(l2->report().bytes_read == model_bytes(m));
  }

  TEST_CASE("running out of device memory in the middle of a load rolls back") {
    const auto& m = zm("resnet18");
    // The arena holds less than the manager's budget, as a GPU shared with
    // another process would: an allocation fails part-way through the load.
    residency_rig rig{*small_zoo::get().store, 1ull << 30, load_mode::copy, true,
                      model_bytes(m) / 2};
    auto l = rig.mgr->load(m.name, residency::blob_refs_of(m));
    REQUIRE_FALSE(l);
    CHECK(code_of(l.error()) == ec::out_of_memory);
    auto s = rig.mgr->stats();
    CHECK(s.device.used_bytes == 0);
    CHECK(s.device.reserved_bytes == 0);
    CHECK(rig.arena.allocated_bytes() == 0);
    CHECK(s.counters.failed_loads == 1);
    CHECK(rig.mgr->blobs().empty());
  }

  TEST_CASE("pressure is reported at each watermark, up and down") {
    const auto& m = zm("resnet18");
    residency_rig rig{*small_zoo::get().store, model_bytes(m) * 100 / 97, load_mode::in_place,
                      false};
    std::vector<pressure_level> seen;
    rig.mgr->on_pressure([&](pressure_level level, uint64_t used, uint64_t budget) {
      CHECK(used <= budget);
      seen.push_back(level);
    });
    auto l = must_load(*rig.mgr, m);
    CHECK(rig.mgr->pressure() == pressure_level::critical);
    REQUIRE_FALSE(seen.empty());
    CHECK(seen.back() == pressure_level::critical);
    rig.mgr->unload(l);
    CHECK(rig.mgr->pressure() == pressure_level::normal);
    CHECK(seen.back() == pressure_level::normal);
  }
}
