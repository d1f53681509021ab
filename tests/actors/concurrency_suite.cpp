// `executors = "auto"` on a real node: at start-up it measures throughput with
// 1..N executors on its own models (real LibTorch), runs the count the rule
// picks, and serves with it.
#include "node_fixture.hpp"
#include "why.hpp"

#include <algorithm>
#include <thread>

using namespace tessera;
using namespace tessera::test;

TEST_SUITE("concurrency") {
  TEST_CASE("a node with executors = auto measures, runs the chosen count and serves") {
    const auto& zoo = small_zoo::get();
    auto cfg = node_config_for(zoo);
    cfg.torch_threads = 0; // split the cores among the executors, as deployed
    REQUIRE_FALSE(set_config_value(cfg, "executors", "auto"));
    auto n = start_node(cfg);
    auto most = std::min(4u, std::max(1u, std::thread::hardware_concurrency()));
    CHECK(n->local_executors() >= 1);
    CHECK(n->local_executors() <= most);
    zmq::context_t ctx{1};
    auto cl = transport::client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    for (const char* name : {"mobilenetv2", "resnet18"}) {
      auto r = cl->call({"", infer_for(zoo.manifest(name), 1, 7)}, reply_timeout);
      REQUIRE_MESSAGE(r, test::why(r));
      auto* inf = std::get_if<transport::infer_response>(&*r);
      REQUIRE(inf != nullptr);
      CHECK(inf->outputs.size() == 1);
    }
  }
}
