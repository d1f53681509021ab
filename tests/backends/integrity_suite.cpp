// Integrity after verification (decision 43): store files are read-only; in
// place, a blob file changed under a loaded, a kept or an unloaded model never
// yields a wrong output, only ec::corrupt_blob until the file is restored;
// work that ran while a file changed is discarded; the scrub finds bytes that
// rotted in memory; a good copy restored in place is seen through the mapping.
#include "blob_damage.hpp"
#include "residency_fixture.hpp"
#include "scratch_dir.hpp"
#include "tessera/core/error.hpp"
#include "tessera/residency/blob_transfer.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "why.hpp"
#include "zoo_fixture.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <sys/stat.h>

using namespace tessera;
using namespace tessera::test;

namespace {

// The largest blob of `m` that no other zoo model binds; large enough to be
// used in place from its mapped file.
content_id private_mapped_blob(const small_zoo& zoo, const model_manifest& m) {
  content_id best;
  uint64_t best_bytes = 0;
  for (const auto& [id, bytes] : unique_blobs(m))
    if (zoo.store->models_using(id).size() == 1 && bytes > best_bytes) {
      best = id;
      best_bytes = bytes;
    }
  REQUIRE(best_bytes >= residency::small_blob_bytes);
  return best;
}

std::vector<tensor_buffer> inputs(const model_manifest& m) {
  return {random_tensor(with_batch(m.inputs[0].spec, 1), 11)};
}

bool same(const std::vector<tensor_buffer>& a, const std::vector<tensor_buffer>& b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i].spec == b[i].spec) || std::memcmp(a[i].data, b[i].data, a[i].bytes) != 0)
      return false;
  return true;
}

struct runner {
  residency_rig rig;
  std::unique_ptr<backend::model_executor> exec;

  runner(const store::block_store& st, load_mode mode) : rig(st, 1ull << 30, mode) {
    auto e = torch_backend::make_torch_executor({}, *rig.mgr, st.skeletons());
    REQUIRE(e);
    exec = std::move(*e);
  }
};

} // namespace

TEST_SUITE("integrity") {
  TEST_CASE("store files are read-only once written") {
    auto zoo = small_zoo::build(0.125);
    const auto& m = zoo.manifest("resnet-scratch");
    auto mode_of = [&](const content_id& id) {
      struct stat st {};
      REQUIRE(::stat(zoo.store->blobs().path_of(id).c_str(), &st) == 0);
      return st.st_mode & 0777;
    };
    for (const auto& [id, bytes] : unique_blobs(m))
      CHECK(mode_of(id) == 0444);
    CHECK(zoo.store->blobs().make_read_only() == 0);
    // A file an older store left writable is made read-only.
    auto victim = private_mapped_blob(zoo, m);
    REQUIRE(::chmod(zoo.store->blobs().path_of(victim).c_str(), 0644) == 0);
    CHECK(zoo.store->blobs().make_read_only() == 1);
    CHECK(mode_of(victim) == 0444);
  }

  TEST_CASE("in place, a changed blob file refuses its models until restored; no wrong output") {
    auto zoo = small_zoo::build(0.125);
    const auto& m = zoo.manifest("resnet-scratch");
    auto victim = private_mapped_blob(zoo, m);
    auto path = zoo.store->blobs().path_of(victim);
    auto in = inputs(m);
    runner r{*zoo.store, load_mode::in_place};
    auto loaded = r.exec->load(m);
    REQUIRE_MESSAGE(loaded, test::why(loaded));
    auto good = r.exec->run(**loaded, in);
    REQUIRE_MESSAGE(good, test::why(good));
    auto expect_refused = [&](const caf::error& err) {
      CHECK(code_of(err) == ec::corrupt_blob);
      CHECK(describe(err).find(victim.short_hex()) != std::string::npos);
      CHECK(describe(err).find("resnet-scratch") != std::string::npos);
    };

    SUBCASE("loaded: refused while changed, served again once restored") {
      flip_data_byte(path);
      for (int i = 0; i < 2; ++i) { // the second refusal without a re-hash
        auto out = r.exec->run(**loaded, in);
        REQUIRE_FALSE(out);
        expect_refused(out.error());
      }
      flip_data_byte(path);
      auto again = r.exec->run(**loaded, in);
      REQUIRE_MESSAGE(again, test::why(again));
      CHECK(same(*again, *good));
      auto c = r.rig.mgr->stats().counters;
      CHECK(c.blob_file_changes >= 2);
      CHECK(c.blobs_found_changed == 1);
      CHECK(c.blobs_rehashed == 2);
    }

    SUBCASE("kept after an unload: the next load reads it again and refuses it") {
      r.exec->unload(*loaded);
      REQUIRE(r.rig.mgr->stats().device.cached_bytes > 0);
      flip_data_byte(path);
      auto reload = r.exec->load(m);
      REQUIRE_FALSE(reload);
      expect_refused(reload.error());
      flip_data_byte(path);
      auto restored = r.exec->load(m);
      REQUIRE_MESSAGE(restored, test::why(restored));
      auto out = r.exec->run(**restored, in);
      REQUIRE_MESSAGE(out, test::why(out));
      CHECK(same(*out, *good));
    }

    SUBCASE("a model loaded after the change, beside one that holds the blob, is refused too") {
      flip_data_byte(path);
      auto second = r.exec->load(m);
      if (second) { // shared with the loaded model: its run is refused instead
        auto out = r.exec->run(**second, in);
        REQUIRE_FALSE(out);
        expect_refused(out.error());
      } else {
        expect_refused(second.error());
      }
      flip_data_byte(path);
    }
  }

  TEST_CASE("in copy mode, a changed file does not touch the verified copy in memory") {
    auto zoo = small_zoo::build(0.125);
    const auto& m = zoo.manifest("resnet-scratch");
    auto path = zoo.store->blobs().path_of(private_mapped_blob(zoo, m));
    auto in = inputs(m);
    runner r{*zoo.store, load_mode::copy};
    auto loaded = r.exec->load(m);
    REQUIRE_MESSAGE(loaded, test::why(loaded));
    auto good = r.exec->run(**loaded, in);
    REQUIRE(good);
    flip_data_byte(path);
    auto out = r.exec->run(**loaded, in);
    REQUIRE_MESSAGE(out, test::why(out));
    CHECK(same(*out, *good));
    // A new load reads the file, and refuses it.
    r.exec->unload(*loaded);
    r.rig.mgr->drop_cached();
    auto reload = r.exec->load(m);
    REQUIRE_FALSE(reload);
    CHECK(code_of(reload.error()) == ec::corrupt_blob);
  }

  TEST_CASE("work that ran while its blob's file changed is discarded") {
    auto zoo = small_zoo::build(0.125);
    const auto& m = zoo.manifest("resnet-scratch");
    auto victim = private_mapped_blob(zoo, m);
    auto path = zoo.store->blobs().path_of(victim);
    residency_rig rig{*zoo.store, 1ull << 30, load_mode::in_place};
    auto l = rig.mgr->load(m.name, residency::blob_refs_of(m));
    REQUIRE_MESSAGE(l, test::why(l));
    {
      auto pin = (*l)->pin();
      REQUIRE(pin);
      CHECK_FALSE(pin->check_unchanged());
      flip_data_byte(path); // "during" the work
      flip_data_byte(path); // and back: the work may still have read the changed byte
      auto err = pin->check_unchanged();
      CHECK(code_of(err) == ec::corrupt_blob);
      CHECK(describe(err).find("discarded") != std::string::npos);
    }
    CHECK(rig.mgr->stats().counters.runs_discarded == 1);
    // The file is as it was: the next pin re-hashes and serves.
    auto pin = (*l)->pin();
    REQUIRE_MESSAGE(pin, test::why(pin));
    CHECK_FALSE(pin->check_unchanged());
  }

  TEST_CASE("the scrub finds bytes that changed in memory, in either mode") {
    auto zoo = small_zoo::build(0.125);
    const auto& m = zoo.manifest("resnet-scratch");
    auto victim = private_mapped_blob(zoo, m);
    residency_rig rig{*zoo.store, 1ull << 30, load_mode::copy};
    auto l = rig.mgr->load(m.name, residency::blob_refs_of(m));
    REQUIRE_MESSAGE(l, test::why(l));
    // A clean pass first: every resident blob, no finding.
    uint64_t model = parameter_bytes(m);
    uint64_t hashed = 0;
    while (rig.mgr->stats().scrub.passes == 0)
      hashed += rig.mgr->scrub(1u << 20);
    CHECK(hashed >= model);
    CHECK(rig.mgr->stats().scrub.mismatches == 0);
    // Rot in the device copy: one byte of the victim's memory.
    auto t = (*l)->tensor(victim);
    REQUIRE(t);
    auto* bytes = const_cast<std::byte*>(t->data);
    bytes[t->bytes / 2] ^= std::byte{0x5a};
    auto before = rig.mgr->stats().scrub.passes;
    while (rig.mgr->stats().scrub.passes < before + 2)
      rig.mgr->scrub(1u << 20);
    CHECK(rig.mgr->stats().scrub.mismatches == 1);
    auto pin = (*l)->pin();
    REQUIRE_FALSE(pin);
    CHECK(code_of(pin.error()) == ec::corrupt_blob);
    CHECK(describe(pin.error()).find(victim.short_hex()) != std::string::npos);
    // Unloaded, then loaded again: the bad copy is dropped and read anew.
    rig.mgr->unload(*l);
    auto again = rig.mgr->load(m.name, residency::blob_refs_of(m));
    REQUIRE_MESSAGE(again, test::why(again));
    auto fresh = (*again)->pin();
    CHECK_MESSAGE(fresh, test::why(fresh));
  }

  TEST_CASE("restore writes a good copy over a damaged file in place, seen through its mapping") {
    scratch_dir dir{"restore"};
    auto st = store::block_store::open(dir.path());
    REQUIRE(st);
    auto& blobs = st->blobs();
    tensor_spec spec{dtype::float32, {1024, 64}};
    std::vector<float> good(1024 * 64);
    for (size_t i = 0; i < good.size(); ++i)
      good[i] = static_cast<float>(i) * 0.5f;
    auto id = blobs.put(spec, good.data());
    REQUIRE(id);
    auto path = blobs.path_of(*id);
    auto mapped = blobs.read(*id, store::read_method::map, true);
    REQUIRE(mapped);
    struct stat before {};
    REQUIRE(::stat(path.c_str(), &before) == 0);
    flip_data_byte(path);
    REQUIRE(blobs.verify(*id));
    auto restored = blobs.restore(spec, good.data());
    REQUIRE_MESSAGE(restored, test::why(restored));
    CHECK(*restored == *id);
    CHECK_FALSE(blobs.verify(*id));
    struct stat after {};
    REQUIRE(::stat(path.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino); // the same file, not a new one renamed over it
    CHECK((after.st_mode & 0777) == 0444);
    // The mapping made before the damage sees the good bytes again.
    CHECK(std::memcmp(mapped->data, good.data(), mapped->bytes) == 0);
    // A blob with no file is stored as put() would store it.
    good[0] = -1.0f;
    auto other = blobs.restore(spec, good.data());
    REQUIRE(other);
    CHECK(*other != *id);
    CHECK_FALSE(blobs.verify(*other));
  }
}
