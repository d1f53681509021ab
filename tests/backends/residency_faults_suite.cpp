// Faults on disk: a corrupt or missing blob fails the load with an error naming
// the blob and the models that use it, and leaves nothing resident.
#include "blob_damage.hpp"
#include "residency_fixture.hpp"
#include "tessera/core/error.hpp"
#include "tessera/residency/blob_transfer.hpp"
#include "tessera/store/atomic_file.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

using namespace tessera;
using namespace tessera::test;

namespace {

// A blob of `m` that no other zoo model binds: the largest, or the smallest.
content_id private_blob(const small_zoo& zoo, const model_manifest& m, bool largest = true) {
  content_id best;
  uint64_t best_bytes = largest ? 0 : UINT64_MAX;
  for (const auto& [id, bytes] : unique_blobs(m)) {
    bool better = largest ? bytes > best_bytes : bytes < best_bytes;
    if (zoo.store->models_using(id).size() == 1 && better) {
      best = id;
      best_bytes = bytes;
    }
  }
  REQUIRE(!best.empty());
  return best;
}

} // namespace

TEST_SUITE("residency_faults") {
  TEST_CASE("small blobs read whole are checked for damage, truncation and extra bytes") {
    auto zoo = small_zoo::build(0.125);
    const auto& m = zoo.manifest("vit-cars");
    auto small = private_blob(zoo, m, false);
    auto path = zoo.store->blobs().path_of(small);
    auto size = std::filesystem::file_size(path);
    REQUIRE(size - store::blob_field_bytes < residency::small_blob_bytes);
    auto expect_failure = [&](ec code) {
      for (auto mode : {load_mode::in_place, load_mode::copy}) {
        residency_rig rig{*zoo.store, 1ull << 30, mode};
        auto l = rig.mgr->load(m.name, residency::blob_refs_of(m));
        REQUIRE_FALSE(l);
        CHECK(code_of(l.error()) == code);
        CHECK(describe(l.error()).find(small.short_hex()) != std::string::npos);
        CHECK(rig.mgr->stats().device.used_bytes == 0);
      }
    };
    std::string original;
    REQUIRE_FALSE(store::read_whole_file(path, original));
    flip_data_byte(path);
    expect_failure(ec::corrupt_blob);
    std::filesystem::resize_file(path, size - 1);
    expect_failure(ec::corrupt_blob);
    {
      std::ofstream grow{path, std::ios::binary | std::ios::trunc};
      grow.write(original.data(), static_cast<std::streamsize>(original.size()));
      grow.put('x');
    }
    expect_failure(ec::corrupt_blob);
    {
      std::ofstream restore{path, std::ios::binary | std::ios::trunc};
      restore.write(original.data(), static_cast<std::streamsize>(original.size()));
    }
    residency_rig rig{*zoo.store, 1ull << 30, load_mode::copy};
    CHECK(rig.mgr->load(m.name, residency::blob_refs_of(m)));
  }

  TEST_CASE("a corrupt or missing blob fails the load, names blob and models, leaves nothing") {
    auto zoo = small_zoo::build(0.125);
    const auto& m = zoo.manifest("mobilenet-cars");
    auto bad = private_blob(zoo, m);
    flip_data_byte(zoo.store->blobs().path_of(bad));
    for (auto mode : {load_mode::in_place, load_mode::copy}) {
      CAPTURE(static_cast<int>(mode));
      residency_rig rig{*zoo.store, 1ull << 30, mode};
      auto l = rig.mgr->load(m.name, residency::blob_refs_of(m));
      REQUIRE_FALSE(l);
      CHECK(code_of(l.error()) == ec::corrupt_blob);
      auto text = describe(l.error());
      CHECK(text.find(bad.short_hex()) != std::string::npos);
      CHECK(text.find("mobilenet-cars") != std::string::npos);
      auto s = rig.mgr->stats();
      CHECK(s.device.used_bytes == 0);
      CHECK(rig.mgr->blobs().empty());
      CHECK(rig.arena.allocated_bytes() == 0);
      // A model that does not use the blob still loads.
      auto other = rig.mgr->load("mobilenetv2", residency::blob_refs_of(zoo.manifest("mobilenetv2")));
      CHECK(other);
    }
    std::filesystem::remove(zoo.store->blobs().path_of(bad));
    residency_rig rig{*zoo.store, 1ull << 30, load_mode::copy};
    auto l = rig.mgr->load(m.name, residency::blob_refs_of(m));
    REQUIRE_FALSE(l);
    CHECK(code_of(l.error()) == ec::unknown_blob);
    CHECK(describe(l.error()).find("mobilenet-cars") != std::string::npos);
    CHECK(rig.mgr->stats().device.used_bytes == 0);
  }
}
