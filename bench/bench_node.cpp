#include "bench_node.hpp"

#include "tessera/core/tensor_buffer.hpp"
#include "tessera/transport/client.hpp"

#include <chrono>

namespace tessera::bench {

transport::infer_request image_request(const model_manifest& m, uint64_t seed) {
  transport::infer_request r;
  r.model_name = m.name;
  r.inputs.push_back({m.inputs[0].name, random_tensor(with_batch(m.inputs[0].spec, 1), seed)});
  return r;
}

caf::expected<std::unique_ptr<actors::node>>
start_warm_node(const node_config& cfg, const std::vector<model_manifest>& models, int rounds) {
  auto n = actors::node::start(cfg);
  if (!n)
    return n.error();
  zmq::context_t ctx{1};
  auto cl = transport::client::connect(ctx, (*n)->endpoint());
  if (!cl)
    return cl.error();
  for (const auto& m : models)
    for (int i = 0; i < rounds; ++i)
      if (auto got = cl->call({"", image_request(m, i + 1)}, std::chrono::seconds(60)); !got)
        return got.error();
  return std::move(*n);
}

} // namespace tessera::bench
