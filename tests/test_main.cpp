// Entry point shared by every test binary. A run in which every case passed
// but some were skipped (tests/skip.hpp) exits with skip_exit_code,
// which CTest's SKIP_RETURN_CODE counts as skipped (tests/CMakeLists.txt); a
// failure exits as doctest says, so a skip never hides one.
#define DOCTEST_CONFIG_IMPLEMENT
#include "skip.hpp"

int main(int argc, char** argv) {
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  int result = context.run();
  if (context.shouldExit() || result != 0)
    return result;
  return tessera::test::skipped_cases() > 0 ? tessera::test::skip_exit_code : 0;
}
