// Fused groups through a node's gateway: a client defines a group and asks for
// it by name (every member's outputs) or by member; a group defined through a
// coordinator is defined on its peers too (decision 25) and served by them.
#include "group_fixture.hpp"
#include "scratch_dir.hpp"
#include "why.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <optional>
#include <thread>

using namespace tessera;
using namespace tessera::actors;
using namespace tessera::test;

namespace {

// A worker with a store of its own at `dir`: a copy of the zoo, without groups.
node_config worker_config(const std::string& dir) {
  std::filesystem::copy(group_zoo().dir->path(), dir, std::filesystem::copy_options::recursive);
  std::filesystem::remove_all(dir + "/groups");
  auto cfg = node_config_for(group_zoo());
  cfg.store_path = dir;
  return cfg;
}

// Defines the group "pair" (resnet18 and resnet-cars) through `cl`.
std::optional<transport::fuse_response> fuse_pair(transport::client& cl) {
  auto fused = cl.call_as<transport::fuse_response>(
      {"", transport::fuse_request{"pair", {"resnet18", "resnet-cars"}}}, reply_timeout);
  REQUIRE_MESSAGE(fused, test::why(fused));
  return std::move(*fused);
}

// Asks for the group "pair" (resnet-cars and resnet18) by name: every
// member's outputs come back.
void check_pair_served(transport::client& cl, int seed) {
  const auto& cars = group_zoo().manifest("resnet-cars");
  transport::infer_request whole;
  whole.model_name = "pair";
  whole.inputs.push_back({cars.inputs[0].name, image(1, seed)});
  auto r = cl.call_as<transport::infer_response>({"", whole}, reply_timeout);
  REQUIRE_MESSAGE(r, test::why(r));
  CHECK(r->outputs.size() == cars.outputs.size() + group_zoo().manifest("resnet18").outputs.size());
}

} // namespace

TEST_SUITE("group_node") {
  TEST_CASE("through a node, a client defines a group and asks for it by name or by member") {
    defined_groups groups; // removes what the client defines
    auto n = start_node(node_config_for(group_zoo()));
    zmq::context_t ctx{1};
    auto cl = transport::client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    auto fused = fuse_pair(*cl);
    auto x = image(1, 61);
    const auto& cars = group_zoo().manifest("resnet-cars");
    // By name: one pass, every member's outputs as "member/output".
    transport::infer_request whole;
    whole.model_name = "pair";
    whole.inputs.push_back(
        {cars.inputs[0].name, x}); // the group input is named after the first member's
    auto r = cl->call_as<transport::infer_response>({"", whole}, reply_timeout);
    REQUIRE_MESSAGE(r, test::why(r));
    CHECK(r->model_name == "pair");
    std::vector<std::string> names;
    for (const auto& o : r->outputs)
      names.push_back(o.name);
    std::vector<std::string> expected_names;
    std::vector<tensor_buffer> expected;
    for (const auto& m : {"resnet-cars", "resnet18"}) {
      auto out = alone(m, {x});
      for (size_t i = 0; i < out.size(); ++i) {
        expected_names.push_back(std::string{m} + "/" + group_zoo().manifest(m).outputs[i].name);
        expected.push_back(out[i]);
      }
    }
    CHECK(names == expected_names);
    for (size_t i = 0; i < expected.size() && i < r->outputs.size(); ++i)
      CHECK(same_bytes(r->outputs[i].tensor, expected[i]));
    // One output of one member, by its group name.
    whole.outputs = {expected_names.back()};
    auto one = cl->call_as<transport::infer_response>({"", whole}, reply_timeout);
    REQUIRE_MESSAGE(one, test::why(one));
    REQUIRE(one->outputs.size() == 1);
    CHECK(one->outputs[0].name == expected_names.back());
    // By member: the member's own outputs, from the loaded group.
    auto member =
        cl->call_as<transport::infer_response>({"", infer_for(cars, 1, 0)}, reply_timeout);
    REQUIRE_MESSAGE(member, test::why(member));
    CHECK(member->model_name == "resnet-cars");
    CHECK(member->outputs.at(0).name == cars.outputs[0].name);
    auto ready = cl->call_as<transport::model_ready_response>(
        {"", transport::model_ready_request{"pair", {}}}, reply_timeout);
    REQUIRE(ready);
    CHECK(ready->ready);
    // A name that is neither a model nor a group.
    whole.model_name = "no-such-group";
    auto missing = cl->call_as<transport::infer_response>({"", whole}, reply_timeout);
    REQUIRE_FALSE(missing);
    CHECK(code_of(missing.error()) == ec::unknown_model);
  }

  TEST_CASE(
      "a group defined through a coordinator is defined on its peers, and served through them") {
    defined_groups groups; // removes what the client defines on the coordinator
    test::scratch_dir worker_store{"group-peer-store"};
    auto worker_cfg = worker_config(worker_store.path());
    auto worker = start_node(worker_cfg);
    auto cfg = node_config_for(group_zoo());
    cfg.executors = 0;                                     // everything runs on the worker
    cfg.peers = {worker->endpoint(), "tcp://127.0.0.1:1"}; // the second never answers
    auto coordinator = start_node(cfg);
    for (int i = 0; i < 500 && !coordinator->peers()[0].up; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(coordinator->peers()[0].up);
    zmq::context_t ctx{1};
    auto cl = transport::client::connect(ctx, coordinator->endpoint());
    REQUIRE(cl);
    auto fused = fuse_pair(*cl);
    // Defined on the worker, pinned to the same versions; the dead peer is named.
    auto on_worker = store::group_store{worker_store.path()}.get("pair");
    REQUIRE_MESSAGE(on_worker, test::why(on_worker));
    CHECK(on_worker->models == fused->models);
    REQUIRE(fused->not_defined_on.size() == 1);
    CHECK_MESSAGE(fused->not_defined_on[0].rfind("tcp://127.0.0.1:1: ", 0) == 0,
                  fused->not_defined_on[0]);
    // The coordinator executes nothing: the group's name is served by the worker.
    check_pair_served(*cl, 62);
    // A peer does not pass a definition on: the forwarded request is local only.
    auto direct = transport::client::connect(ctx, worker->endpoint());
    REQUIRE(direct);
    auto local = direct->call_as<transport::fuse_response>(
        {"", transport::fuse_request{"pair2", {"resnet18", "resnet-birds"}, true}}, reply_timeout);
    REQUIRE_MESSAGE(local, test::why(local));
    CHECK(local->not_defined_on.empty());
    CHECK_FALSE(store::group_store{group_zoo().store->root()}.get("pair2"));
  }

  TEST_CASE("a peer that was down when a group was defined gets it when it comes back") {
    defined_groups groups;
    test::scratch_dir worker_store{"group-rejoin-store"};
    auto worker_cfg = worker_config(worker_store.path());
    auto worker = start_node(worker_cfg);
    auto endpoint = worker->endpoint();
    auto cfg = node_config_for(group_zoo());
    cfg.executors = 0;
    cfg.peers = {endpoint};
    auto coordinator = start_node(cfg);
    auto wait_for = [](auto done) {
      for (int i = 0; i < 1000 && !done(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return done();
    };
    REQUIRE(wait_for([&] { return coordinator->peers()[0].up; }));
    worker.reset(); // the worker goes away ...
    REQUIRE(wait_for([&] { return !coordinator->peers()[0].up; }));
    zmq::context_t ctx{1};
    auto cl = transport::client::connect(ctx, coordinator->endpoint());
    REQUIRE(cl);
    auto fused = fuse_pair(*cl);
    REQUIRE(fused->not_defined_on.size() == 1); // ... and misses the definition
    CHECK_FALSE(store::group_store{worker_store.path()}.get("pair"));
    worker_cfg.listen = endpoint; // ... then comes back where it was
    worker = start_node(worker_cfg);
    REQUIRE(wait_for([&] { return coordinator->peers()[0].up; }));
    REQUIRE(wait_for([&] { return bool{store::group_store{worker_store.path()}.get("pair")}; }));
    CHECK(store::group_store{worker_store.path()}.get("pair")->models == fused->models);
    // Served through the returned worker by the group's name.
    check_pair_served(*cl, 63);
  }
}

TEST_SUITE("group_node") {
  TEST_CASE("max_groups bounds the groups a client can define; redefining one that exists is no "
            "new group, other members under its name or a model's name are refused") {
    test::scratch_dir dir{"group-node-max"};
    auto cfg = worker_config(dir.path() + "/store");
    cfg.max_groups = 2;
    auto n = start_node(cfg);
    zmq::context_t ctx{1};
    auto cl = transport::client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    auto fuse = [&](const char* name, std::vector<std::string> models) {
      return cl->call({"", transport::fuse_request{name, std::move(models)}}, reply_timeout);
    };
    REQUIRE(fuse("g1", {"resnet18", "resnet-cars"}));
    REQUIRE(fuse("g2", {"mobilenetv2", "mobilenet-cars"}));
    // The same definition again defines nothing new: it is answered as before.
    CHECK(fuse("g1", {"resnet18", "resnet-cars"}));
    CHECK(fuse("g1", {"resnet-cars", "resnet18"}));
    // Other members under a taken name, or a model's name, are refused.
    auto other = fuse("g1", {"resnet18", "resnet-birds"});
    REQUIRE_FALSE(other);
    CHECK(code_of(other.error()) == ec::already_exists);
    CHECK(describe(other.error()).find("resnet-cars") != std::string::npos);
    auto model_name = fuse("resnet18", {"resnet18", "resnet-cars"});
    REQUIRE_FALSE(model_name);
    CHECK(code_of(model_name.error()) == ec::already_exists);
    auto third = fuse("g3", {"resnet-birds", "resnet-ft"});
    REQUIRE_FALSE(third);
    CHECK(code_of(third.error()) == ec::out_of_memory);
    CHECK(describe(third.error()).find("max_groups") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.path() + "/store/groups/g3.json"));
  }
}
