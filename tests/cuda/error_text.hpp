// The text of an expected's error, or nothing when it holds a value: safe in
// doctest's *_MESSAGE macros, which may render the message on success too.
#pragma once

#include "tessera/core/error.hpp"

#include <string>

namespace tessera::test {

template <class T>
std::string error_text(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

} // namespace tessera::test
