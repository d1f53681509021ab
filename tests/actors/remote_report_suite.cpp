// Remote executors report their peer's device (decision 31): with each reply,
// the peer's free device memory and the blobs resident there, so that the
// coordinator places a model on the peer that already holds its blobs.
#include "node_fixture.hpp"
#include "why.hpp"

#include <set>
#include <thread>

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

std::string executor_of(const infer_response& r) {
  auto e = r.parameters.find("executor");
  REQUIRE(e != r.parameters.end());
  return std::get<std::string>(e->second);
}

} // namespace

TEST_SUITE("remote_report") {
  TEST_CASE("the coordinator places a model on the peer whose device holds its blobs") {
    const auto& zoo = small_zoo::get();
    std::vector<std::unique_ptr<actors::node>> workers;
    for (int w = 0; w < 2; ++w) {
      auto cfg = node_config_for(zoo);
      cfg.node_name = "worker" + std::to_string(w);
      workers.push_back(start_node(cfg));
    }
    auto ccfg = node_config_for(zoo);
    ccfg.node_name = "coordinator";
    ccfg.executors = 0;
    ccfg.peers = {workers[0]->endpoint(), workers[1]->endpoint()};
    auto coordinator = start_node(ccfg);
    auto all_up = [&] {
      auto peers = coordinator->peers();
      return peers.size() == 2 && peers[0].up && peers[1].up;
    };
    for (int i = 0; i < 100 && !all_up(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(all_up());
    zmq::context_t ctx;
    // resnet18 is loaded on worker1 behind the coordinator's back: only
    // worker1's own report can tell the coordinator.
    auto direct = client::connect(ctx, workers[1]->endpoint());
    REQUIRE(direct);
    auto loaded = direct->call_as<model_load_response>({"", model_load_request{"resnet18", {}, {}}},
                                                       reply_timeout);
    REQUIRE_MESSAGE(loaded, test::why(loaded));
    auto c = client::connect(ctx, coordinator->endpoint());
    REQUIRE(c);
    // Both peers serve once, so both have reported: two models that share no
    // blob with resnet18 are sent together, and the second finds the first's
    // peer busy.
    std::set<std::string> served;
    for (int attempt = 0; attempt < 5 && served.size() < 2; ++attempt) {
      auto a = c->send({"", infer_for(zoo.manifest("mobilenetv2"), 1, 5)}, reply_timeout);
      auto b = c->send({"", infer_for(zoo.manifest("vit-tiny"), 1, 6)}, reply_timeout);
      REQUIRE(a);
      REQUIRE(b);
      for (const auto& id : {*a, *b}) {
        auto r = c->wait_for(id, reply_timeout);
        REQUIRE_MESSAGE(r, test::why(r));
        auto executor = executor_of(std::get<infer_response>(*r));
        served.insert(executor.substr(0, executor.find(' ')));
      }
    }
    REQUIRE(served.size() == 2);
    // Without the reports the two peers tie (neither is known to hold
    // resnet18's blobs, both have room) and the first one wins.
    auto r =
        c->call_as<infer_response>({"", infer_for(zoo.manifest("resnet18"), 1, 7)}, reply_timeout);
    REQUIRE_MESSAGE(r, test::why(r));
    CHECK(executor_of(*r).rfind(workers[1]->endpoint() + " ", 0) == 0);
  }
}
