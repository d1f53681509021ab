#include "error_of.hpp"
#include "tessera/core/content_id.hpp"
#include "tessera/core/error.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace tessera;

TEST_SUITE("content_ids") {
  TEST_CASE("a blob id depends on dtype, shape and bytes") {
    std::vector<float> data(12, 1.5f);
    tensor_spec a{dtype::float32, {3, 4}};
    tensor_spec b{dtype::float32, {4, 3}};
    tensor_spec c{dtype::int32, {3, 4}};
    auto id = blob_id_of(a, data.data(), 48);
    CHECK(id == blob_id_of(a, data.data(), 48));
    CHECK(id != blob_id_of(b, data.data(), 48));
    CHECK(id != blob_id_of(c, data.data(), 48));
    data[7] = 2.0f;
    CHECK(id != blob_id_of(a, data.data(), 48));
  }

  TEST_CASE("streaming hash equals one-shot hash") {
    std::vector<uint8_t> bytes(10000);
    for (size_t i = 0; i < bytes.size(); ++i)
      bytes[i] = static_cast<uint8_t>(i * 31);
    tensor_spec s{dtype::uint8, {10000}};
    blob_hasher h{s};
    h.update(bytes.data(), 3000);
    h.update(bytes.data() + 3000, 7000);
    CHECK(h.digest() == blob_id_of(s, bytes.data(), bytes.size()));
  }

  TEST_CASE("hex round trip and parse errors") {
    content_id id{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
    CHECK(id.to_hex() == "0123456789abcdeffedcba9876543210");
    auto back = parse_content_id(id.to_hex());
    REQUIRE(back);
    CHECK(*back == id);
    CHECK(code_of(test::error_of(parse_content_id("abc"))) == ec::invalid_argument);
    CHECK(code_of(test::error_of(parse_content_id("zz23456789abcdeffedcba9876543210"))) ==
          ec::invalid_argument);
  }

  TEST_CASE("block ids follow blob ids and their order") {
    content_id x{1, 2}, y{3, 4};
    CHECK(block_id_of({x, y}) == block_id_of({x, y}));
    CHECK(block_id_of({x, y}) != block_id_of({y, x}));
  }
}
