// The client against a ROUTER server (router_socket) over inproc:// and tcp://:
// calls, several requests in flight, server errors, timeouts and unreachable servers.
#include "echo_server.hpp"
#include "why.hpp"
#include "wire_values.hpp"

#include "tessera/transport/client.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

request infer_of(std::string model, tensor_buffer t, std::string id = {}) {
  infer_request r;
  r.model_name = std::move(model);
  r.inputs.push_back({"x", std::move(t)});
  return request{std::move(id), std::move(r)};
}

void check_round_trips(const std::string& endpoint_pattern) {
  zmq::context_t ctx;
  echo_server server{ctx, endpoint_pattern};
  REQUIRE_FALSE(server.endpoint().empty());
  auto c = client::connect(ctx, server.endpoint());
  REQUIRE(c);

  auto health = c->call_as<health_response>(request{"", health_request{}}, 2000ms);
  REQUIRE_MESSAGE(health, test::why(health));
  CHECK(health->live);
  CHECK(health->ready);

  auto small = random_tensor({dtype::float32, {2, 3}}, 1);
  auto big = random_tensor({dtype::float32, {1, 3, 128, 128}}, 2); // framed
  for (const auto& t : {small, big}) {
    auto out = c->call_as<infer_response>(infer_of("echo", t), 2000ms);
    REQUIRE_MESSAGE(out, test::why(out));
    REQUIRE(out->outputs.size() == 1);
    CHECK(out->outputs[0].tensor.spec == t.spec);
    CHECK(checksum(out->outputs[0].tensor) == checksum(t));
  }
  CHECK(c->in_flight() == 0);
}

} // namespace

TEST_SUITE("client") {

  TEST_CASE("round trips over inproc") {
    check_round_trips("inproc://client-suite");
  }

  TEST_CASE("round trips over tcp on an ephemeral port") {
    check_round_trips("tcp://127.0.0.1:*");
  }

  TEST_CASE("several requests in flight are matched by id") {
    zmq::context_t ctx;
    echo_server server{ctx, "inproc://in-flight"};
    auto c = client::connect(ctx, server.endpoint());
    REQUIRE(c);
    std::vector<std::string> ids;
    for (uint64_t i = 0; i < 5; ++i) {
      auto id = c->send(infer_of("echo", random_tensor({dtype::int64, {4}}, i)), 1000ms);
      REQUIRE(id);
      ids.push_back(*id);
    }
    CHECK(c->in_flight() == 5);
    for (size_t i = ids.size(); i-- > 0;) {
      auto reply = c->wait_for(ids[i], 2000ms);
      REQUIRE_MESSAGE(reply, test::why(reply));
      const auto& out = std::get<infer_response>(*reply).outputs.at(0).tensor;
      CHECK(checksum(out) == checksum(random_tensor({dtype::int64, {4}}, i)));
    }
    CHECK(c->in_flight() == 0);
    auto again = c->send(infer_of("echo", random_tensor({dtype::int64, {4}}, 0), "same"), 1000ms);
    REQUIRE(again);
    auto dup = c->send(infer_of("echo", random_tensor({dtype::int64, {4}}, 0), "same"), 1000ms);
    REQUIRE_FALSE(dup);
    CHECK(code_of(dup.error()) == ec::already_exists);
    auto any = c->receive(2000ms);
    REQUIRE(any);
    CHECK(any->id == "same");
  }

  TEST_CASE("server errors arrive with their code") {
    zmq::context_t ctx;
    echo_server server{ctx, "inproc://server-errors"};
    auto c = client::connect(ctx, server.endpoint());
    REQUIRE(c);
    auto out = c->call(infer_of("missing", random_tensor({dtype::float32, {1}}, 1)), 2000ms);
    REQUIRE_FALSE(out);
    CHECK(code_of(out.error()) == ec::unknown_model);
    CHECK(describe(out.error()) == "unknown_model: no model missing");
    auto other = c->call(request{"", server_status_request{}}, 2000ms);
    REQUIRE_FALSE(other);
    CHECK(code_of(other.error()) == ec::unsupported);
  }

  TEST_CASE("a silent server gives deadline_exceeded and the client keeps working") {
    zmq::context_t ctx;
    echo_server server{ctx, "inproc://silent"};
    auto c = client::connect(ctx, server.endpoint());
    REQUIRE(c);
    auto start = std::chrono::steady_clock::now();
    auto out = c->call(infer_of("silent", random_tensor({dtype::float32, {1}}, 1)), 150ms);
    auto waited = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(out);
    CHECK(code_of(out.error()) == ec::deadline_exceeded);
    CHECK(waited >= 140ms);
    CHECK(waited < 2s);
    CHECK(c->in_flight() == 0);
    CHECK(c->call_as<health_response>(request{"", health_request{}}, 2000ms));
  }

  TEST_CASE("no server gives unavailable") {
    zmq::context_t ctx;
    // A port bound but never listened on: connections are refused, and no
    // other test running beside this one can take the port meanwhile.
    int held = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(held >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(held, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(held, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    auto endpoint = "tcp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    auto c = client::connect(ctx, endpoint);
    REQUIRE(c);
    auto out = c->call(request{"", health_request{}}, 100ms);
    REQUIRE_FALSE(out);
    CHECK(code_of(out.error()) == ec::unavailable);
    auto bad = client::connect(ctx, "nonsense://x");
    REQUIRE_FALSE(bad);
    CHECK(code_of(bad.error()) == ec::invalid_argument);
    ::close(held);
  }

  TEST_CASE("malformed bytes on the socket get an error reply naming their id") {
    zmq::context_t ctx;
    echo_server server{ctx, "inproc://malformed"};
    zmq::socket_t raw{ctx, zmq::socket_type::dealer};
    raw.connect(server.endpoint());
    auto msg = valid_infer();
    msg["id"] = "bad-1";
    msg["inputs"].at(0)["datatype"] = "FP8";
    auto bytes = packed(msg);
    REQUIRE(raw.send(zmq::buffer(bytes)));
    raw.set(zmq::sockopt::rcvtimeo, 2000);
    zmq::message_t reply;
    REQUIRE(raw.recv(reply));
    frame_list frames;
    frames.push_back(std::move(reply));
    auto d = decode_response(std::move(frames));
    CHECK(d.id == "bad-1");
    REQUIRE_FALSE(d.value);
    CHECK(code_of(d.value.error()) == ec::dtype_mismatch);
    auto seen = server.seen();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].second == ec::dtype_mismatch);
  }

  TEST_CASE("a REQ client's delimiter frame is accepted and echoed") {
    zmq::context_t ctx;
    echo_server server{ctx, "inproc://req-client"};
    zmq::socket_t req{ctx, zmq::socket_type::req};
    req.connect(server.endpoint());
    req.set(zmq::sockopt::rcvtimeo, 2000);
    auto frames = encode_request(request{"q1", health_request{}});
    REQUIRE(frames);
    REQUIRE(req.send((*frames)[0], zmq::send_flags::none));
    zmq::message_t reply;
    REQUIRE(req.recv(reply));
    CHECK(server.last_had_delimiter());
    frame_list in;
    in.push_back(std::move(reply));
    auto d = decode_response(std::move(in));
    CHECK(d.id == "q1");
    CHECK(d.value);
  }

  TEST_CASE("a late reply to an abandoned request is dropped") {
    zmq::context_t ctx;
    auto server = router_socket::bind(ctx, "inproc://late-reply");
    REQUIRE(server);
    auto c = client::connect(ctx, server->endpoint());
    REQUIRE(c);
    auto slow = c->send(request{"slow", health_request{}}, 1000ms);
    REQUIRE(slow);
    auto in = server->receive(1000ms);
    REQUIRE(in);
    auto timed_out = c->wait_for("slow", 30ms);
    REQUIRE_FALSE(timed_out);
    CHECK(code_of(timed_out.error()) == ec::deadline_exceeded);
    CHECK_FALSE(server->reply(in->from, "slow", health_response{true, false}));
    REQUIRE(c->send(request{"next", health_request{}}, 1000ms));
    auto next = server->receive(1000ms);
    REQUIRE(next);
    CHECK(next->request.id == "next");
    CHECK_FALSE(server->reply(next->from, "next", health_response{true, true}));
    auto reply = c->receive(1000ms);
    REQUIRE(reply);
    CHECK(reply->id == "next");
    auto nothing = c->receive(50ms);
    REQUIRE_FALSE(nothing);
    CHECK(code_of(nothing.error()) == ec::deadline_exceeded);
  }

  TEST_CASE("a reply that cannot be encoded still answers the client") {
    zmq::context_t ctx;
    auto server = router_socket::bind(ctx, "inproc://bad-reply");
    REQUIRE(server);
    auto c = client::connect(ctx, server->endpoint());
    REQUIRE(c);
    REQUIRE(c->send(infer_of("m", random_tensor({dtype::float32, {2}}, 1), "q"), 1000ms));
    auto in = server->receive(1000ms);
    REQUIRE(in);
    auto broken = random_tensor({dtype::float32, {2}}, 1);
    broken.bytes = 3;
    auto err =
        server->reply(in->from, "q", infer_response{"m", 1, {{"y", broken}}, {}, std::nullopt});
    CHECK(code_of(err) == ec::invalid_argument);
    auto got = c->wait_for("q", 1000ms);
    REQUIRE_FALSE(got);
    CHECK(code_of(got.error()) == ec::invalid_argument);
    CHECK(describe(got.error()).find("encoding the reply: outputs[0].data") != std::string::npos);
  }

  TEST_CASE("replies to a peer that is gone fail instead of vanishing") {
    zmq::context_t ctx;
    auto server = router_socket::bind(ctx, "inproc://gone");
    REQUIRE(server);
    auto err = server->reply(peer{"no-such-peer", false}, "x", health_response{});
    CHECK(code_of(err) == ec::unavailable);
  }

} // TEST_SUITE
