// Skipping a test case that cannot run on this machine: it says why, is
// counted, and returns. A binary whose cases all passed but some skipped exits
// with skip_exit_code (tests/test_main.cpp), which CTest counts as
// skipped rather than passed; any failure still fails it.
#pragma once

#include <doctest/doctest.h>

#include <atomic>

namespace tessera::test {

/// The exit code CTest's SKIP_RETURN_CODE is set to (77, as Automake's).
constexpr int skip_exit_code = 77;

/// Cases skipped so far in this process.
inline std::atomic<int>& skipped_cases_counter() {
  static std::atomic<int> n{0};
  return n;
}

inline int skipped_cases() {
  return skipped_cases_counter().load();
}

} // namespace tessera::test

/// Says why the running test case cannot run here, counts it, and leaves it.
#define TESSERA_SKIP(reason)                                                                       \
  do {                                                                                             \
    ++tessera::test::skipped_cases_counter();                                                      \
    MESSAGE("skipped: " << reason);                                                                \
    return;                                                                                        \
  } while (false)
