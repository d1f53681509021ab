// CurveZMQ on real nodes: key files, a gateway that serves a client whose key
// is on its allow-list and refuses one that is not (no reply, the handshake
// fails), and a coordinator reaching its worker over CURVE.
#include "node_fixture.hpp"
#include "scratch_dir.hpp"
#include "skip.hpp"
#include "tessera/transport/curve.hpp"
#include "why.hpp"

#include <sys/stat.h>

#include <thread>

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

curve_keypair make_keys(const scratch_dir& dir, const std::string& name) {
  auto keys = generate_curve_keypair();
  REQUIRE(keys);
  REQUIRE_FALSE(write_curve_keypair(*keys, dir.path(), name, false));
  return *keys;
}

constexpr auto short_timeout = std::chrono::milliseconds(1500);

} // namespace

TEST_SUITE("curve") {
  TEST_CASE("key files: the secret is private, the public key derives from it") {
    if (!curve_available()) {
      TESSERA_SKIP("libzmq without CURVE");
    }
    scratch_dir dir{"curve-keys"};
    auto keys = make_keys(dir, "node");
    struct stat st {};
    REQUIRE(::stat((dir.path() + "/node.key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto secret = read_curve_key_file(dir.path() + "/node.key");
    REQUIRE(secret);
    CHECK(*secret == keys.secret_key);
    CHECK(*curve_public_key(*secret) == keys.public_key);
    CHECK(*resolve_curve_key(dir.path() + "/node.pub") == keys.public_key);
    CHECK(*resolve_curve_key(keys.public_key) == keys.public_key);
    CHECK_FALSE(resolve_curve_key("not-a-key"));
    // No silent overwrite.
    CHECK(write_curve_keypair(keys, dir.path(), "node", false));
  }

  TEST_CASE("an allowed client is served, an unknown one gets no reply") {
    if (!curve_available()) {
      TESSERA_SKIP("libzmq without CURVE");
    }
    scratch_dir dir{"curve-node"};
    auto server = make_keys(dir, "node");
    auto allowed = make_keys(dir, "client");
    const auto& zoo = small_zoo::get();
    auto cfg = node_config_for(zoo);
    cfg.curve_secret_key_file = dir.path() + "/node.key";
    cfg.curve_allow = {allowed.public_key};
    auto n = start_node(cfg);
    zmq::context_t ctx{1};

    auto good =
        client::connect(ctx, n->endpoint(), {}, curve_client_keys{server.public_key, allowed});
    REQUIRE(good);
    auto health = good->call_as<health_response>({"", health_request{}}, reply_timeout);
    REQUIRE_MESSAGE(health, test::why(health));
    CHECK(health->live);
    auto r = good->call({"", infer_for(zoo.manifest("resnet18"), 1, 7)}, reply_timeout);
    CHECK_MESSAGE(r, test::why(r));

    // A fresh key the node does not know: the handshake is refused, nothing comes back.
    auto stranger =
        client::connect(ctx, n->endpoint(), {}, curve_client_keys{server.public_key, {}});
    REQUIRE(stranger);
    auto refused = stranger->call({"", health_request{}}, short_timeout);
    REQUIRE_FALSE(refused);
    CHECK(code_of(refused.error()) == ec::unavailable);
    // A client without CURVE cannot talk to a CURVE server either.
    auto plain = client::connect(ctx, n->endpoint());
    REQUIRE(plain);
    CHECK_FALSE(plain->call({"", health_request{}}, short_timeout));
    CHECK(n->counters().received.load() == 2); // only the allowed client's requests arrived
  }

  TEST_CASE("a coordinator schedules onto its worker over CURVE") {
    if (!curve_available()) {
      TESSERA_SKIP("libzmq without CURVE");
    }
    scratch_dir dir{"curve-cluster"};
    auto worker_keys = make_keys(dir, "worker");
    auto coordinator_keys = make_keys(dir, "coordinator");
    auto client_keys = make_keys(dir, "client");
    const auto& zoo = small_zoo::get();
    auto wcfg = node_config_for(zoo);
    wcfg.node_name = "worker";
    wcfg.curve_secret_key_file = dir.path() + "/worker.key";
    wcfg.curve_allow = {coordinator_keys.public_key};
    auto worker = start_node(wcfg);
    auto ccfg = node_config_for(zoo);
    ccfg.node_name = "coordinator";
    ccfg.executors = 0;
    ccfg.peers = {worker->endpoint()};
    ccfg.curve_secret_key_file = dir.path() + "/coordinator.key";
    ccfg.curve_peer_keys = {dir.path() + "/worker.pub"};
    ccfg.curve_allow = {client_keys.public_key};
    auto coordinator = start_node(ccfg);
    for (int i = 0; i < 100 && !(coordinator->peers().size() == 1 && coordinator->peers()[0].up);
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(coordinator->peers()[0].up);
    zmq::context_t ctx{1};
    auto cl = client::connect(ctx, coordinator->endpoint(), {},
                              curve_client_keys{coordinator_keys.public_key, client_keys});
    REQUIRE(cl);
    auto r =
        cl->call_as<infer_response>({"", infer_for(zoo.manifest("resnet18"), 1, 3)}, reply_timeout);
    REQUIRE_MESSAGE(r, test::why(r));
    auto executor = std::get<std::string>(r->parameters.at("executor"));
    CHECK(executor.find(" worker/cpu/") !=
          std::string::npos); // "ENDPOINT worker/cpu/0": ran on the worker

    // A coordinator with the wrong key for its worker never sees it up.
    auto wrong = node_config_for(zoo);
    wrong.node_name = "impostor";
    wrong.executors = 0;
    wrong.peers = {worker->endpoint()};
    wrong.curve_secret_key_file = dir.path() + "/client.key"; // not on the worker's allow-list
    wrong.curve_peer_keys = {worker_keys.public_key};
    // The worker refusing the impostor's handshake is the sign to wait for,
    // not a time: after it, "never up" is a finding.
    auto refused = [&] {
      const std::string key = "curve_handshakes_total{result=\"refused\"} ";
      auto text = worker->metrics_text();
      auto at = text.find(key);
      return at == std::string::npos ? 0.0 : std::stod(text.substr(at + key.size()));
    };
    auto refused_before = refused();
    auto impostor = start_node(wrong);
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (refused() <= refused_before) {
      REQUIRE(std::chrono::steady_clock::now() < give_up);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK_FALSE(impostor->peers()[0].up);
  }
}
