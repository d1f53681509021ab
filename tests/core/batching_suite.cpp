#include "error_of.hpp"
#include "tessera/core/batching.hpp"
#include "tessera/core/error.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace tessera;

TEST_SUITE("batching") {
  TEST_CASE("stacking and splitting rows gives back the original tensors") {
    auto a = random_tensor({dtype::float32, {1, 3, 4}}, 1);
    auto b = random_tensor({dtype::float32, {2, 3, 4}}, 2);
    CHECK(batchable({a}, {b}));
    auto whole = concat_rows({a, b});
    REQUIRE(whole);
    CHECK(whole->spec.shape == std::vector<int64_t>{3, 3, 4});
    auto parts = split_rows(*whole, {1, 2});
    REQUIRE(parts);
    REQUIRE(parts->size() == 2);
    CHECK((*parts)[0].spec == a.spec);
    CHECK(std::memcmp((*parts)[0].data, a.data, a.bytes) == 0);
    CHECK(std::memcmp((*parts)[1].data, b.data, b.bytes) == 0);
  }

  TEST_CASE("tensors that differ beyond the rows are not batched") {
    auto a = random_tensor({dtype::float32, {1, 3, 4}}, 1);
    auto wide = random_tensor({dtype::float32, {1, 3, 5}}, 2);
    auto other_type = random_tensor({dtype::float64, {1, 3, 4}}, 3);
    CHECK_FALSE(batchable({a}, {wide}));
    CHECK_FALSE(batchable({a}, {other_type}));
    CHECK_FALSE(batchable({a}, {a, a}));
    CHECK(code_of(test::error_of(concat_rows({a, wide}))) == ec::shape_mismatch);
    CHECK(code_of(test::error_of(split_rows(a, {2}))) == ec::shape_mismatch);
    CHECK(code_of(test::error_of(concat_rows({}))) == ec::invalid_argument);
  }
}
