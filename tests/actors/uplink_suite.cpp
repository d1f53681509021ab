// The gateway's uplink shares (decision 30): with a capacity, each client's
// replies carry the share allocate_uplink() gives it among the active clients;
// without one, none; and a client paces its uploads to its share.
#include "node_fixture.hpp"
#include "tessera/core/uplink_allocation.hpp"
#include "why.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <thread>

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

uint64_t bytes_of(const infer_request& r) {
  uint64_t sum = 0;
  for (const auto& t : r.inputs)
    sum += t.tensor.bytes;
  return sum;
}

client connect_to(zmq::context_t& ctx, const actors::node& n) {
  auto c = client::connect(ctx, n.endpoint());
  REQUIRE(c);
  return std::move(*c);
}

// One inference with its deadline; returns the share its reply carried.
std::optional<uint64_t> infer_once(client& c, infer_request r, uint64_t deadline_ms) {
  r.deadline_ms = deadline_ms;
  auto out = c.call_as<infer_response>({"", std::move(r)}, reply_timeout);
  REQUIRE_MESSAGE(out, test::why(out));
  return c.uplink_share();
}

// The gateway counts an answer just after it sends it: a client that has its
// reply may look before the count moved.
uint64_t answered_soon(const actors::node& n, uint64_t expected) {
  for (int i = 0; i < 100 && n.counters().answered.load() < expected; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return n.counters().answered.load();
}

} // namespace

TEST_SUITE("uplink") {
  TEST_CASE("two clients get the shares allocate_uplink gives them, within the capacity") {
    const auto& zoo = small_zoo::get();
    auto cfg = node_config_for(zoo);
    cfg.uplink_capacity_mbps = 80.0; // 10 MB/s
    auto n = start_node(cfg);
    zmq::context_t ctx;
    auto a = connect_to(ctx, *n);
    auto b = connect_to(ctx, *n);
    const auto& m = zoo.manifest("resnet18");
    auto small = infer_for(m, 1, 1); // a: one image, due in 2 s
    auto large = infer_for(m, 2, 2); // b: two images, due in 5 s
    const uint64_t a_bytes = bytes_of(small), b_bytes = bytes_of(large);
    infer_once(a, small, 2000);
    infer_once(b, large, 5000);
    // Past the least interval between computations, so that the next reply
    // computes whatever changed and both replies below come from one split.
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    auto a_share = infer_once(a, small, 2000);
    auto b_share = infer_once(b, large, 5000);
    REQUIRE(a_share);
    REQUIRE(b_share);
    auto split = n->uplink();
    REQUIRE(split.clients.size() == 2);
    REQUIRE(split.instance.requests.size() == 2);
    // The instance is the two clients' figures: their input bytes and budgets.
    std::map<uint64_t, size_t> by_bytes; // input bytes -> request index
    for (size_t i = 0; i < 2; ++i)
      by_bytes[split.instance.requests[i].input_bytes] = i;
    REQUIRE(by_bytes.count(a_bytes) == 1);
    REQUIRE(by_bytes.count(b_bytes) == 1);
    auto ia = by_bytes[a_bytes], ib = by_bytes[b_bytes];
    CHECK(split.instance.requests[ia].deadline_ms == 2000.0);
    CHECK(split.instance.requests[ib].deadline_ms == 5000.0);
    // The replies carry that split's shares, and the shares fill the capacity
    // (both are kept; the spare goes by input size) without passing it.
    CHECK(*a_share == split.share_bytes_per_s[ia]);
    CHECK(*b_share == split.share_bytes_per_s[ib]);
    const double capacity = 80.0e6 / 8.0;
    CHECK(static_cast<double>(*a_share + *b_share) <= capacity);
    CHECK(static_cast<double>(*a_share + *b_share) >= capacity - 2.0);
    CHECK(*b_share > *a_share); // twice the bytes, a later deadline: more of the spare
    // And they are allocate_uplink()'s for that instance in deadline order.
    std::vector<size_t> order{ia, ib};
    auto expected = allocate_uplink(split.instance, order, capacity / 1000.0);
    REQUIRE(expected);
    CHECK(expected->kept.size() == 2);
    CHECK(*a_share == static_cast<uint64_t>(std::floor(expected->share_bytes_per_ms[ia] * 1000.0)));
    CHECK(*b_share == static_cast<uint64_t>(std::floor(expected->share_bytes_per_ms[ib] * 1000.0)));
    CHECK(answered_soon(*n, 4) == 4);
    CHECK(n->counters().received.load() == 4);
  }

  TEST_CASE("without a capacity no reply carries a share and sends are not paced") {
    const auto& zoo = small_zoo::get();
    auto n = start_node(node_config_for(zoo));
    zmq::context_t ctx;
    auto c = connect_to(ctx, *n);
    for (int i = 0; i < 3; ++i)
      CHECK_FALSE(infer_once(c, infer_for(zoo.manifest("resnet18"), 1, 3), 5000));
    auto health = c.call_as<health_response>({"", health_request{}}, reply_timeout);
    REQUIRE(health);
    CHECK_FALSE(c.uplink_share());
    CHECK(n->uplink().computations == 0);
  }

  TEST_CASE("a client paces its uploads to its share, and every request is answered once") {
    const auto& zoo = small_zoo::get();
    const auto& m = zoo.manifest("resnet18");
    auto request = infer_for(m, 1, 4);
    const uint64_t bytes = bytes_of(request);
    // A capacity of five uploads per second: a lone client gets all of it.
    const double capacity = static_cast<double>(bytes) * 5.0;
    auto cfg = node_config_for(zoo);
    cfg.uplink_capacity_mbps = capacity * 8.0 / 1.0e6;
    auto n = start_node(cfg);
    zmq::context_t ctx;
    auto c = connect_to(ctx, *n);
    auto share = infer_once(c, request, 10000);
    REQUIRE(share);
    CHECK(static_cast<double>(*share) <= capacity);
    CHECK(static_cast<double>(*share) >= capacity - 1.0);
    // Six requests sent back to back: unpaced they leave within milliseconds
    // over loopback; paced, each waits for the one before to be repaid.
    constexpr int sends = 6;
    std::vector<std::string> ids;
    auto first = std::chrono::steady_clock::now();
    for (int i = 0; i < sends; ++i) {
      auto r = request;
      r.deadline_ms = 10000;
      auto id = c.send({"", std::move(r)}, reply_timeout);
      REQUIRE_MESSAGE(id, test::why(id));
      ids.push_back(*id);
    }
    auto last = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(last - first).count();
    double rate = static_cast<double>((sends - 1) * bytes) / seconds;
    INFO("sent " << sends << " x " << bytes << " B in " << seconds << " s: " << rate
                 << " B/s, share " << *share << " B/s");
    CHECK(rate <= static_cast<double>(*share) * 1.001);
    CHECK(rate >= static_cast<double>(*share) * 0.5); // paced, not stalled
    std::map<std::string, int> answers;
    for (int i = 0; i < sends; ++i) {
      auto reply = c.receive(reply_timeout);
      REQUIRE(reply);
      CHECK(reply->value);
      ++answers[reply->id];
    }
    for (const auto& id : ids)
      CHECK(answers[id] == 1);
    CHECK(answered_soon(*n, sends + 1) == sends + 1);
  }
}
