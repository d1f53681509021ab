// A node serving the small test zoo on an ephemeral loopback port, and clients
// for it. The node runs the real actors, sockets and LibTorch execution.
#pragma once

#include "backends/zoo_fixture.hpp"
#include "tessera/actors/node.hpp"
#include "tessera/core/error.hpp"
#include "tessera/residency/cpu_arena.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "tessera/transport/client.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

#include <cstring>

namespace tessera::test {

inline bool same_bytes(const tensor_buffer& a, const tensor_buffer& b) {
  return a.spec == b.spec && a.bytes == b.bytes && std::memcmp(a.data, b.data, a.bytes) == 0;
}

inline node_config node_config_for(const small_zoo& zoo) {
  node_config cfg;
  cfg.store_path = zoo.dir->path();
  cfg.listen = "tcp://127.0.0.1:*";
  cfg.node_name = "test-node";
  cfg.torch_threads = 1;
  return cfg;
}

inline std::unique_ptr<actors::node> start_node(const node_config& cfg) {
  auto n = actors::node::start(cfg);
  REQUIRE_MESSAGE(n, test::why(n));
  return std::move(*n);
}

inline transport::infer_request infer_for(const model_manifest& m, int64_t batch, uint64_t seed) {
  transport::infer_request r;
  r.model_name = m.name;
  for (size_t i = 0; i < m.inputs.size(); ++i)
    r.inputs.push_back({m.inputs[i].name, random_tensor(with_batch(m.inputs[i].spec, batch), seed + i)});
  return r;
}

// The outputs a model gives when run locally, fully resident, without a node.
inline std::vector<tensor_buffer> local_outputs(const small_zoo& zoo, const model_manifest& m,
                                                const std::vector<transport::tensor_payload>& inputs,
                                                load_mode mode = load_mode::in_place) {
  residency::cpu_arena arena;
  residency::residency_options opts;
  opts.mode = mode;
  residency::residency_manager mgr{*zoo.store, arena, opts};
  auto exec = torch_backend::make_torch_executor({}, mgr, zoo.store->skeletons());
  REQUIRE(exec);
  auto loaded = (*exec)->load(m);
  REQUIRE(loaded);
  std::vector<tensor_buffer> in;
  for (const auto& p : inputs)
    in.push_back(p.tensor);
  auto out = (*exec)->run(**loaded, in);
  REQUIRE(out);
  return *out;
}

constexpr auto reply_timeout = std::chrono::milliseconds(60000);

} // namespace tessera::test
