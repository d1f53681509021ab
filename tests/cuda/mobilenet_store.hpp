// One small zoo family (MobileNetV2 at a quarter width) in a scratch store,
// built once per process: enough real blobs, large and small, for load and
// unload cycles, at a fraction of the whole small zoo's build time.
#pragma once

#include "error_text.hpp"
#include "scratch_dir.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/zoo/zoo.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>

namespace tessera::test {

struct mobilenet_store {
  std::unique_ptr<scratch_dir> dir;
  std::optional<store::block_store> store;
  model_manifest base;

  static mobilenet_store& get() {
    static mobilenet_store instance = build();
    return instance;
  }

  static mobilenet_store build() {
    mobilenet_store s;
    s.dir = std::make_unique<scratch_dir>("cuda-mobilenet");
    auto st = store::block_store::open(s.dir->path());
    REQUIRE(st);
    s.store.emplace(std::move(*st));
    zoo::zoo_options opts;
    opts.scale = 0.25;
    opts.families = {"mobilenet"};
    auto built = zoo::build_zoo(*s.store, opts);
    REQUIRE_MESSAGE(built, error_text(built));
    for (const auto& e : *built)
      if (e.manifest.name == "mobilenetv2")
        s.base = e.manifest;
    REQUIRE(s.base.name == "mobilenetv2");
    return s;
  }
};

} // namespace tessera::test
