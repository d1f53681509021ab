// The client's retry_on_reconnect over real tcp sockets: a server takes requests and
// closes without answering (a coordinator that dies), a new one binds the same
// endpoint, and the client re-sends what is idempotent, once, or nothing without
// the option.
#include "restarting_server.hpp"
#include "why.hpp"

#include "skip.hpp"
#include "tessera/transport/client.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

request infer_with_deadline(std::string id, tensor_buffer t, std::optional<int64_t> deadline_ms) {
  infer_request r;
  r.model_name = "echo";
  r.inputs.push_back({"x", std::move(t)});
  r.deadline_ms = deadline_ms;
  return request{std::move(id), std::move(r)};
}

client retrying_client(zmq::context_t& ctx, const std::string& endpoint,
                       curve_client_keys curve = {}) {
  connect_options options;
  options.curve = std::move(curve);
  options.retry_on_reconnect = true;
  auto c = client::connect(ctx, endpoint, options);
  REQUIRE_MESSAGE(c, why(c));
  return std::move(*c);
}

/// Waits `timeout` for the reply to `id`, which must not come.
void check_unanswered(client& c, const std::string& id, std::chrono::milliseconds timeout) {
  auto reply = c.wait_for(id, timeout);
  REQUIRE_FALSE(reply);
  CHECK(code_of(reply.error()) == ec::deadline_exceeded);
}

/// A health call, which succeeds once the client is connected to the server's
/// latest life: the reconnection happened while the checks before it waited.
void check_reconnected(client& c) {
  auto health = c.call_as<health_response>(request{"", health_request{}}, 3000ms);
  CHECK_MESSAGE(health, why(health));
}

} // namespace

TEST_SUITE("reconnect") {

  TEST_CASE("an infer lost with its server is re-sent once, and answered once") {
    zmq::context_t ctx;
    restarting_server server{ctx, {{1}, {0, 0ms, 2}}}; // the second life answers twice
    REQUIRE_FALSE(server.endpoint().empty());
    auto c = retrying_client(ctx, server.endpoint());
    auto image = random_tensor({dtype::float32, {1, 3, 128, 128}}, 3); // its own frame
    REQUIRE(c.send(infer_with_deadline("q1", image, 10000), 2000ms));

    auto reply = c.wait_for("q1", 5000ms);
    INFO("bind failure: " << server.bind_failure());
    REQUIRE_MESSAGE(reply, why(reply));
    const auto& out = std::get<infer_response>(*reply).outputs.at(0).tensor;
    CHECK(checksum(out) == checksum(image));
    auto seen = server.seen();
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].life == 0);
    CHECK(seen[1].life == 1);
    CHECK(seen[1].id == "q1");
    // The re-send carries what was left of the deadline, not a fresh one.
    REQUIRE(seen[1].deadline_ms);
    CHECK(*seen[1].deadline_ms > 0);
    CHECK(*seen[1].deadline_ms < 10000);
    // The server's second reply to q1 is dropped, not handed out again.
    auto duplicate = c.receive(300ms);
    REQUIRE_FALSE(duplicate);
    CHECK(code_of(duplicate.error()) == ec::deadline_exceeded);
    CHECK(c.in_flight() == 0);
    check_reconnected(c);
  }

  TEST_CASE("without the option nothing is re-sent and the request times out") {
    zmq::context_t ctx;
    restarting_server server{ctx, {{1}, {}}};
    auto c = client::connect(ctx, server.endpoint());
    REQUIRE(c);
    auto image = random_tensor({dtype::float32, {4}}, 1);
    REQUIRE(c->send(infer_with_deadline("q1", image, std::nullopt), 2000ms));
    check_unanswered(*c, "q1", 1500ms);
    check_reconnected(*c);
    CHECK(server.ids_seen_by(0) == std::vector<std::string>{"q1"});
    CHECK(server.ids_seen_by(1).size() == 1); // the health call only
  }

  TEST_CASE("a model_unload lost with its server is not re-sent; the infer beside it is") {
    zmq::context_t ctx;
    restarting_server server{ctx, {{2}, {}}};
    auto c = retrying_client(ctx, server.endpoint());
    REQUIRE(c.send(request{"u1", model_unload_request{"echo", std::nullopt}}, 2000ms));
    auto image = random_tensor({dtype::int64, {8}}, 2);
    REQUIRE(c.send(infer_with_deadline("q1", image, std::nullopt), 2000ms));
    auto infer = c.wait_for("q1", 5000ms);
    REQUIRE_MESSAGE(infer, why(infer));
    check_unanswered(c, "u1", 500ms);
    CHECK(server.ids_seen_by(1) == std::vector<std::string>{"q1"});
  }

  TEST_CASE("a request re-sent once and lost again is not re-sent a second time") {
    zmq::context_t ctx;
    restarting_server server{ctx, {{1}, {1}, {}}};
    auto c = retrying_client(ctx, server.endpoint());
    auto bytes = random_tensor({dtype::uint8, {16}}, 4);
    REQUIRE(c.send(infer_with_deadline("q1", bytes, 10000), 2000ms));
    check_unanswered(c, "q1", 1500ms);
    check_reconnected(c);
    CHECK(server.ids_seen_by(0) == std::vector<std::string>{"q1"});
    CHECK(server.ids_seen_by(1) == std::vector<std::string>{"q1"});
    CHECK(server.ids_seen_by(2).size() == 1); // the health call only
  }

  TEST_CASE("a request whose deadline passed before the reconnection is not re-sent") {
    zmq::context_t ctx;
    restarting_server server{ctx, {{1}, {0, 400ms}}};
    auto c = retrying_client(ctx, server.endpoint());
    auto pair = random_tensor({dtype::float32, {2}}, 5);
    REQUIRE(c.send(infer_with_deadline("q1", pair, 150), 2000ms));
    check_unanswered(c, "q1", 1000ms);
    check_reconnected(c);
    CHECK(server.ids_seen_by(1).size() == 1); // the health call only
  }

  TEST_CASE("over CURVE the re-send waits for the handshake of the new connection") {
    if (!curve_available()) {
      TESSERA_SKIP("libzmq without CURVE");
    }
    zmq::context_t ctx;
    auto zap = zap_handler::start(ctx, {"*"});
    REQUIRE(zap);
    auto server_keys = generate_curve_keypair();
    REQUIRE(server_keys);
    {
      restarting_server server{ctx, {{1}, {}}, curve_server_keys{server_keys->secret_key}};
      auto c = retrying_client(ctx, server.endpoint(), {server_keys->public_key, {}});
      auto image = random_tensor({dtype::float32, {3}}, 6);
      REQUIRE(c.send(infer_with_deadline("q1", image, std::nullopt), 2000ms));
      auto reply = c.wait_for("q1", 5000ms);
      REQUIRE_MESSAGE(reply, why(reply));
      CHECK(server.ids_seen_by(1) == std::vector<std::string>{"q1"});
    }
    zap->reset(); // before the context closes
  }

} // TEST_SUITE
