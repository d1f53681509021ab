#include "tessera/zoo/block_plan.hpp"

#include <algorithm>
#include <cmath>

namespace tessera::zoo {

int64_t scaled_width(int64_t base, double scale, int64_t multiple) {
  auto units = std::llround(static_cast<double>(base) * scale / static_cast<double>(multiple));
  return std::max<int64_t>(1, units) * multiple;
}

int64_t fan_in_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i)
    n *= shape[i];
  return n;
}

int64_t parameter_count(const block_plan& block) {
  int64_t total = 0;
  for (const auto& p : block.params) {
    int64_t n = 1;
    for (auto d : p.shape)
      n *= d;
    total += n;
  }
  return total;
}

int64_t parameter_count(const architecture& arch) {
  int64_t total = 0;
  for (const auto& block : arch)
    total += parameter_count(block);
  return total;
}

} // namespace tessera::zoo
