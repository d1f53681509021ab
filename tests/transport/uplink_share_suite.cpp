// The uplink share in the reply envelope: it round-trips on success and error
// replies, is absent unless set, and the client's pacer spaces uploads by it.
#include "tessera/core/error.hpp"
#include "tessera/transport/codec.hpp"
#include "tessera/transport/upload_pacer.hpp"

#include <doctest/doctest.h>

#include <msgpack.hpp>

using namespace tessera;
using namespace tessera::transport;
using namespace std::chrono_literals;

namespace {

decoded<response_body> decode_header(const msgpack::sbuffer& header) {
  frame_list frames;
  frames.emplace_back(header.data(), header.size());
  return decode_response(std::move(frames));
}

} // namespace

TEST_SUITE("uplink_share") {
  TEST_CASE("the share travels in success and error replies, and only when set") {
    reply_advice advice{uint64_t{125000}};
    auto ok = encode_response("r1", response_body{health_response{true, true}}, {}, advice);
    REQUIRE(ok);
    auto out = decode_response(std::move(*ok));
    REQUIRE(out.value);
    CHECK(out.uplink_share_bytes_per_s == uint64_t{125000});

    auto failed =
        decode_response(encode_error_response("r2", make_error(ec::overloaded, "busy"), advice));
    REQUIRE_FALSE(failed.value);
    CHECK(code_of(failed.value.error()) == ec::overloaded);
    CHECK(failed.uplink_share_bytes_per_s == uint64_t{125000});

    // A share of 0 is a share (nothing reserved), not an absent one.
    auto zero =
        encode_response("r3", response_body{health_response{}}, {}, reply_advice{uint64_t{0}});
    REQUIRE(zero);
    CHECK(decode_response(std::move(*zero)).uplink_share_bytes_per_s == uint64_t{0});

    auto plain = encode_response("r4", response_body{health_response{true, false}});
    REQUIRE(plain);
    auto none = decode_response(std::move(*plain));
    REQUIRE(none.value);
    CHECK_FALSE(none.uplink_share_bytes_per_s);
    CHECK_FALSE(decode_response(encode_error_response("r5", make_error(ec::unavailable, "x")))
                    .uplink_share_bytes_per_s);
  }

  TEST_CASE("a share that is not an unsigned integer makes the reply malformed") {
    msgpack::sbuffer header;
    msgpack::packer<msgpack::sbuffer> pk{header};
    auto field = [&](const std::string& key, const auto& value) {
      pk.pack(key);
      pk.pack(value);
    };
    pk.pack_map(6);
    field("id", std::string{"r1"});
    field("ok", true);
    field("op", std::string{"health"});
    field("live", true);
    field("ready", true);
    field("uplink_share_bytes_per_s", std::string{"fast"});
    auto out = decode_header(header);
    REQUIRE_FALSE(out.value);
    CHECK(describe(out.value.error()).find("uplink_share_bytes_per_s") != std::string::npos);
  }

  TEST_CASE("the pacer: unpaced without a share, spaced by it with one, held by a share of 0") {
    upload_pacer p;
    upload_pacer::clock::time_point t0{};
    CHECK(p.next_start(t0) == t0);
    p.sent(1000000, t0); // unpaced: no debt
    CHECK(p.next_start(t0) == t0);

    p.set_share(uint64_t{100000}, t0); // 100 kB/s
    CHECK(p.next_start(t0) == t0);     // the first message goes at once
    p.sent(10000, t0);                 // 10 kB: 100 ms of debt
    CHECK(p.next_start(t0) == t0 + 100ms);
    CHECK(p.next_start(t0 + 150ms) == t0 + 150ms);
    p.sent(20000, t0 + 100ms);
    CHECK(p.next_start(t0 + 100ms) == t0 + 300ms);
    // Idle time does not bank credit beyond one message: after a pause the
    // next two still go 100 ms apart.
    p.sent(10000, t0 + 5s);
    CHECK(p.next_start(t0 + 5s) == t0 + 5s + 100ms);

    p.set_share(uint64_t{0}, t0 + 6s);
    CHECK(p.next_start(t0 + 6s) == t0 + 6s + upload_pacer::zero_share_hold);
    p.set_share(uint64_t{0}, t0 + 6s + 10ms); // the hold is not renewed while it runs
    CHECK(p.next_start(t0 + 6s) == t0 + 6s + upload_pacer::zero_share_hold);
    p.set_share(std::nullopt, t0 + 6s + 20ms);
    CHECK(p.next_start(t0 + 6s + 20ms) == t0 + 6s + 20ms);
  }
}
