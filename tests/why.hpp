// A failed result's error, described, for a check's message: doctest's -s
// writes the messages of passing checks too, and a result that holds a value
// has no error to describe.
#pragma once

#include "tessera/core/error.hpp"

#include <string>

namespace tessera::test {

template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

} // namespace tessera::test
