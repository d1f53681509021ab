#include "tessera/core/swap_budget.hpp"

#include <algorithm>

namespace tessera {

namespace {

// The most a model can use: its whole size, or its own cap when lower.
uint64_t ceiling_of(const swap_demand& d) {
  auto most = std::max(d.model_bytes, d.largest_block_bytes);
  return d.cap_bytes > 0 ? std::min(most, d.cap_bytes) : most;
}

} // namespace

std::vector<uint64_t> split_swap_budget(uint64_t total_bytes,
                                        const std::vector<swap_demand>& demands) {
  std::vector<uint64_t> shares(demands.size(), 0);
  std::vector<bool> open(demands.size(), false); // admitted and below its ceiling
  uint64_t left = total_bytes;
  for (size_t i = 0; i < demands.size(); ++i) {
    const auto& d = demands[i];
    if (d.largest_block_bytes > left || d.largest_block_bytes > ceiling_of(d))
      continue;
    shares[i] = d.largest_block_bytes;
    left -= d.largest_block_bytes;
    open[i] = shares[i] < ceiling_of(d);
  }
  // Water filling: share what is left by weight; models that reach their
  // ceiling drop out and the next round shares what they could not use.
  while (left > 0) {
    uint64_t weight = 0;
    for (size_t i = 0; i < demands.size(); ++i)
      if (open[i])
        weight += std::max<uint64_t>(demands[i].largest_block_bytes, 1);
    if (weight == 0)
      break;
    uint64_t given = 0;
    for (size_t i = 0; i < demands.size(); ++i) {
      if (!open[i])
        continue;
      auto w = std::max<uint64_t>(demands[i].largest_block_bytes, 1);
      // left * w / weight without overflow for budgets up to terabytes.
      auto part = static_cast<uint64_t>(static_cast<long double>(left) * w / weight);
      part = std::max<uint64_t>(part, 1);
      auto room = ceiling_of(demands[i]) - shares[i];
      part = std::min({part, room, left - given});
      shares[i] += part;
      given += part;
      if (shares[i] >= ceiling_of(demands[i]))
        open[i] = false;
      if (given == left)
        break;
    }
    if (given == 0)
      break;
    left -= given;
  }
  return shares;
}

} // namespace tessera
