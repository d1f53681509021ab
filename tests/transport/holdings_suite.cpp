// A node's report of its device in an infer reply (decision 31): free memory,
// the digest, and the resident blob ids as one bin, present only when sent.
#include "tessera/core/error.hpp"
#include "tessera/transport/codec.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

#include <msgpack.hpp>

using namespace tessera;
using namespace tessera::transport;

namespace {

infer_response decoded_infer(const infer_response& r) {
  auto frames = encode_response("r1", response_body{r});
  REQUIRE(frames);
  auto out = decode_response(std::move(*frames));
  REQUIRE_MESSAGE(out.value, test::why(out.value));
  return std::get<infer_response>(*out.value);
}

} // namespace

TEST_SUITE("holdings") {
  TEST_CASE("a report keeps its figures and ids; without one the reply has none") {
    infer_response r;
    r.model_name = "m";
    CHECK_FALSE(decoded_infer(r).holdings);

    node_holdings h;
    h.free_bytes = 3ull << 30;
    h.digest = 0xfedcba9876543210ULL;
    h.blob_ids =
        std::vector<content_id>{{0x0123456789abcdefULL, 0x1122334455667788ULL}, {0, 1}, {~0ULL, 0}};
    r.holdings = h;
    auto out = decoded_infer(r).holdings;
    REQUIRE(out);
    CHECK(out->free_bytes == h.free_bytes);
    CHECK(out->digest == h.digest);
    REQUIRE(out->blob_ids);
    CHECK(*out->blob_ids == *h.blob_ids);

    // Unchanged since the digest the coordinator sent: figures without the list.
    h.blob_ids.reset();
    r.holdings = h;
    out = decoded_infer(r).holdings;
    REQUIRE(out);
    CHECK(out->free_bytes == h.free_bytes);
    CHECK_FALSE(out->blob_ids);

    // An empty list is a list (the node holds nothing), not an absent one.
    h.blob_ids = std::vector<content_id>{};
    r.holdings = h;
    out = decoded_infer(r).holdings;
    REQUIRE(out);
    REQUIRE(out->blob_ids);
    CHECK(out->blob_ids->empty());
  }

  TEST_CASE("ids that are not whole 16-byte ids make the reply malformed") {
    msgpack::sbuffer header;
    msgpack::packer<msgpack::sbuffer> pk{header};
    auto key = [&](const std::string& k) { pk.pack(k); };
    pk.pack_map(6);
    key("id"), pk.pack(std::string{"r1"});
    key("ok"), pk.pack(true);
    key("op"), pk.pack(std::string{"infer"});
    key("model_name"), pk.pack(std::string{"m"});
    key("outputs"), pk.pack_array(0);
    key("holdings");
    pk.pack_map(3);
    key("free_bytes"), pk.pack(uint64_t{5});
    key("digest"), pk.pack(uint64_t{7});
    key("blob_ids"), pk.pack_bin(17), pk.pack_bin_body(std::string(17, 'x').data(), 17);
    frame_list frames;
    frames.emplace_back(header.data(), header.size());
    auto out = decode_response(std::move(frames));
    REQUIRE_FALSE(out.value);
    CHECK(code_of(out.value.error()) == ec::malformed_request);
    CHECK(describe(out.value.error()).find("holdings.blob_ids") != std::string::npos);
  }
}
