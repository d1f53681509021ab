// The helpers tests are written with must fail when what they guard is
// broken: a result expected to fail that holds a value fails its test case
// (rather than reading error() of a value). doctest's should_fail decorator
// turns the failure into a pass, so a helper that let it through fails here.
#include "error_of.hpp"
#include "tessera/core/error.hpp"

#include <doctest/doctest.h>

using namespace tessera;

TEST_SUITE("test_helpers") {
  TEST_CASE("error_of fails a test case whose result holds a value" * doctest::should_fail()) {
    caf::expected<int> value{3};
    auto err = test::error_of(value);
    CHECK(err); // not reached: error_of stops the case
  }

  TEST_CASE("error_of gives a failed result's error") {
    caf::expected<int> failed{make_error(ec::unknown_model, "no such model")};
    CHECK(code_of(test::error_of(failed)) == ec::unknown_model);
  }
}
