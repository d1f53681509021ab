// A fresh block store in a scratch folder, and a small model over one of its
// blobs: what the store and catalogue suites share.
#pragma once

#include "scratch_dir.hpp"
#include "tessera/store/block_store.hpp"

#include <doctest/doctest.h>

#include <vector>

namespace tessera::test {

inline std::vector<float> ramp(size_t n, float scale = 1.0f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = scale * static_cast<float>(i % 1000) - 3.0f;
  return v;
}

// A one-node model over `blob` so that blobs have a user with a name.
inline model_manifest model_using(const store::block_store& st, const content_id& blob,
                                  const tensor_spec& spec) {
  auto sk = st.skeletons().put(store::skeleton_kind::script,
                               "def forward(x: Tensor, w: Tensor) -> Tensor:\n    return x\n");
  model_manifest m;
  m.name = "user-model";
  m.inputs = {{"x", {dtype::float32, {-1, 4}}, ""}};
  m.outputs = {{"y", {dtype::float32, {-1, 4}}, "n"}};
  m.nodes = {{"n", *sk, {{"w", blob, spec}}, {"x"}, std::nullopt}};
  return m;
}

// A fresh store in its own scratch folder.
struct fresh_store {
  scratch_dir dir{"store"};
  store::block_store st = open(dir.path());

  static store::block_store open(const std::string& path) {
    auto s = store::block_store::open(path);
    REQUIRE(s);
    return std::move(*s);
  }

  // Stores ramp values of `spec` and returns their id.
  content_id put_ramp(const tensor_spec& spec) {
    auto data = ramp(static_cast<size_t>(spec.elements()));
    auto id = st.blobs().put(spec, data.data());
    REQUIRE(id);
    return *id;
  }
};

} // namespace tessera::test
