// The model registry: a node learns what its store holds from the store's own
// events, not by reading it on the request path. A model stored while the
// node runs is served at once (the gateway asks the registry to look before it
// answers unknown_model), one removed is soon refused, and a group written to
// the store by another process reaches the executors as a message.
#include "group_fixture.hpp"
#include "why.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

using namespace tessera;
using namespace tessera::actors;
using namespace tessera::test;

namespace {

// A copy of resnet-cars's manifest stored as model `name` (its blobs and
// skeletons are the zoo's), removed again when the case ends.
struct late_model {
  std::string name;
  model_manifest m;

  explicit late_model(std::string n) : name(std::move(n)) {
    m = group_zoo().manifest("resnet-cars");
    m.name = name;
    m.version = 1;
  }
  void store() const {
    REQUIRE_FALSE(group_zoo().store->manifests().put(m));
  }
  ~late_model() {
    (void)group_zoo().store->manifests().remove(name, 1);
    std::filesystem::remove(group_zoo().store->root() + "/models/" + name);
  }
};

caf::expected<transport::infer_response> infer(transport::client& cl, const std::string& model,
                                               int seed) {
  const auto& cars = group_zoo().manifest("resnet-cars");
  transport::infer_request r;
  r.model_name = model;
  r.inputs.push_back({cars.inputs[0].name, image(1, seed)});
  return cl.call_as<transport::infer_response>({"", r}, reply_timeout);
}

bool listed(transport::client& cl, const std::string& model) {
  auto index = cl.call_as<transport::repository_index_response>(
      {"", transport::repository_index_request{}}, reply_timeout);
  REQUIRE_MESSAGE(index, test::why(index));
  return std::any_of(index->models.begin(), index->models.end(),
                     [&](const auto& e) { return e.name == model; });
}

// Asks `check` every 10 ms for up to five seconds.
template <class Check>
bool within_5s(Check check) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!check()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

} // namespace

TEST_SUITE("registry") {
  TEST_CASE("a model stored while the node runs is served at once, and refused once removed") {
    late_model late{"registry-late"};
    auto n = start_node(node_config_for(group_zoo()));
    zmq::context_t ctx{1};
    auto cl = transport::client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    auto before = infer(*cl, late.name, 1);
    CHECK(code_of(before.error()) == ec::unknown_model);
    late.store();
    // No wait: the gateway lacks the name, so it has the registry look.
    auto served = infer(*cl, late.name, 1);
    REQUIRE_MESSAGE(served, test::why(served));
    auto cars = infer(*cl, "resnet-cars", 1);
    REQUIRE_MESSAGE(cars, test::why(cars));
    REQUIRE(served->outputs.size() == cars->outputs.size());
    for (size_t i = 0; i < cars->outputs.size(); ++i)
      CHECK(same_bytes(served->outputs[i].tensor, cars->outputs[i].tensor));
    CHECK(within_5s([&] { return listed(*cl, late.name); }));
    // Removed: the store's event reaches the registry, and the gateway refuses it.
    REQUIRE_FALSE(group_zoo().store->manifests().remove(late.name, 1));
    CHECK(within_5s([&] {
      auto r = infer(*cl, late.name, 2);
      return !r && code_of(r.error()) == ec::unknown_model;
    }));
    CHECK_FALSE(listed(*cl, late.name));
  }

  TEST_CASE("a group written to the store by another process is served by its name at once") {
    defined_groups groups;
    auto n = start_node(node_config_for(group_zoo()));
    zmq::context_t ctx{1};
    auto cl = transport::client::connect(ctx, n->endpoint());
    REQUIRE(cl);
    CHECK(code_of(infer(*cl, "written", 3).error()) == ec::unknown_model);
    groups.define("written", {"resnet-cars", "resnet-birds"}); // as `tessera fuse` does
    // The registry sends the definition to the executors before the gateway
    // hears back from its look, so the job finds its group defined there.
    auto whole = infer(*cl, "written", 3);
    REQUIRE_MESSAGE(whole, test::why(whole));
    const auto& cars = group_zoo().manifest("resnet-cars");
    const auto& birds = group_zoo().manifest("resnet-birds");
    CHECK(whole->outputs.size() == cars.outputs.size() + birds.outputs.size());
    auto member = infer(*cl, "resnet-cars", 3);
    REQUIRE_MESSAGE(member, test::why(member));
    for (const auto& out : member->outputs) {
      auto same = std::find_if(whole->outputs.begin(), whole->outputs.end(),
                               [&](const auto& w) { return w.name == "resnet-cars/" + out.name; });
      REQUIRE(same != whole->outputs.end());
      CHECK(same_bytes(same->tensor, out.tensor));
    }
  }
}
