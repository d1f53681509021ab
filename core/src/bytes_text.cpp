#include "tessera/core/bytes_text.hpp"

#include <cstdio>

namespace tessera {

double to_mib(uint64_t bytes) {
  return static_cast<double>(bytes) / static_cast<double>(1u << 20);
}

std::string format_mib(uint64_t bytes, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f MiB", decimals, to_mib(bytes));
  return buf;
}

} // namespace tessera
