// A small zoo (scale 0.25) built once per test process into a scratch store and
// shared by the execution suites; tests that damage blobs make their own store.
#pragma once

#include "scratch_dir.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/zoo/zoo.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <optional>

namespace tessera::test {

struct small_zoo {
  std::unique_ptr<scratch_dir> dir;
  std::optional<store::block_store> store;
  std::vector<zoo::zoo_entry> models;

  static small_zoo& get() {
    static small_zoo instance = build(0.25);
    return instance;
  }

  static small_zoo build(double scale) {
    small_zoo z;
    z.dir = std::make_unique<scratch_dir>("zoo");
    auto st = store::block_store::open(z.dir->path());
    REQUIRE(st);
    z.store.emplace(std::move(*st));
    zoo::zoo_options opts;
    opts.scale = scale;
    auto built = zoo::build_zoo(*z.store, opts);
    REQUIRE(built);
    z.models = std::move(*built);
    return z;
  }

  const model_manifest& manifest(const std::string& name) const {
    for (const auto& e : models)
      if (e.manifest.name == name)
        return e.manifest;
    FAIL("no zoo model " << name);
    return models.front().manifest;
  }
};

/// The parameter bytes of a model's largest block: the least budget it
/// streams in.
inline uint64_t largest_block_bytes(const model_manifest& m) {
  uint64_t most = 0;
  for (const auto& n : m.nodes) {
    uint64_t bytes = 0;
    for (const auto& p : n.params)
      bytes += p.spec.bytes();
    most = std::max(most, bytes);
  }
  return most;
}

} // namespace tessera::test
