// The error of a result a test expects to fail. A result that holds a value
// fails the test case here, where reading error() of it would be undefined.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <doctest/doctest.h>

namespace tessera::test {

template <class T>
caf::error error_of(const caf::expected<T>& result) {
  REQUIRE_FALSE(result);
  return result.error();
}

} // namespace tessera::test
