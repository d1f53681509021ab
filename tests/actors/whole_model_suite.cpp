// Whole-model serving (serving = "whole_model"), the baseline of `tessera
// bench serve`: a node that loads each model from one TorchScript file,
// holds whole models within its budget, evicts the least recently used one
// for the next, and refuses a model larger than the budget.
#include "node_fixture.hpp"
#include "scratch_dir.hpp"

#include "tessera/torch/torchscript_files.hpp"
#include "tessera/torch/whole_model_executor.hpp"

#include <algorithm>

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

// The node's count of a metric series (the first line that starts with `series`).
double metric(actors::node& n, const std::string& series) {
  auto text = n.metrics_text();
  auto at = text.find("\n" + series + " ");
  REQUIRE_MESSAGE(at != std::string::npos, series << " not in\n" << text);
  return std::stod(text.substr(at + series.size() + 2));
}

} // namespace

TEST_SUITE("whole_model") {
  TEST_CASE("whole models are served from their files, evicted LRU within the budget, and refused "
            "when too large") {
    const auto& zoo = small_zoo::get();
    scratch_dir files{"whole-model-files"};
    const auto& a = zoo.manifest("resnet18");
    const auto& b = zoo.manifest("mobilenetv2");
    for (const auto* m : {&a, &b})
      REQUIRE_FALSE(torch_backend::export_torchscript(
          *zoo.store, *m, torch_backend::whole_model_file(files.path(), m->name, m->version)));
    uint64_t ab = parameter_bytes(a), bb = parameter_bytes(b);
    auto cfg = node_config_for(zoo);
    cfg.serving = "whole_model";
    cfg.whole_model_dir = files.path();
    // Either model fits alone, not both.
    cfg.device_budget_bytes = std::max({ab, bb, uint64_t{1} << 20}) + std::min(ab, bb) / 2;
    REQUIRE(cfg.device_budget_bytes < ab + bb);
    auto n = start_node(cfg);
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    // Each answer equals the block executor's, bit for bit.
    for (const auto* m : {&a, &b, &a}) {
      CAPTURE(m->name);
      auto req = infer_for(*m, 1, 7);
      auto want = local_outputs(zoo, *m, req.inputs);
      auto got = cl->call_as<infer_response>({"", req}, reply_timeout);
      REQUIRE_MESSAGE(got, why(got));
      REQUIRE(got->outputs.size() == want.size());
      CHECK(same_bytes(got->outputs[0].tensor, want[0]));
      CHECK(n->device_bytes_in_use() <= cfg.device_budget_bytes);
      CHECK(n->device_bytes_in_use() == parameter_bytes(*m)); // the other was evicted
    }
    // Three misses, two evictions to make room, and the files' bytes read.
    const std::string exec = "{executor=\"test-node/cpu/0\"";
    CHECK(metric(*n, "tessera_executor_model_lookups_total" + exec + ",result=\"miss\"}") == 3);
    CHECK(metric(*n, "tessera_executor_swaps_total" + exec + ",reason=\"load\"}") == 2);
    CHECK(metric(*n, "tessera_model_load_bytes_total" + exec + ",sharing=\"shared\"}") == 0);
    // A model without a file is an error that names the file.
    const auto& c = zoo.manifest("vit-tiny");
    REQUIRE(parameter_bytes(c) <= cfg.device_budget_bytes);
    auto missing = cl->call({"", infer_for(c, 1, 7)}, reply_timeout);
    REQUIRE_FALSE(missing);
    CHECK(code_of(missing.error()) == ec::io_error);
    CHECK(describe(missing.error())
              .find(torch_backend::whole_model_file(files.path(), c.name, c.version)) !=
          std::string::npos);

    // A model larger than the budget is refused, not streamed.
    cfg.device_budget_bytes = std::max(uint64_t{1} << 20, std::min(ab, bb) / 2);
    n.reset();
    n = start_node(cfg);
    auto cl2 = client::connect(ctx, n->endpoint());
    REQUIRE(cl2);
    const auto& big = ab > bb ? a : b;
    if (parameter_bytes(big) > cfg.device_budget_bytes) {
      auto got = cl2->call({"", infer_for(big, 1, 7)}, reply_timeout);
      REQUIRE_FALSE(got);
      CHECK(code_of(got.error()) == ec::out_of_memory);
    }
  }
}
