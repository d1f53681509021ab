// Deterministic parameter values without LibTorch: every tensor has its own
// xoshiro256** stream, keyed by (seed, family, lineage, node, param), so a block
// that two models share comes out byte-identical and dedupes by content id.
#pragma once

#include "tessera/zoo/block_plan.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace tessera::zoo {

/// The stream key of one tensor: a 64-bit hash of the seed and the text parts.
uint64_t stream_key(uint64_t seed, std::string_view family, std::string_view lineage,
                    std::string_view node, std::string_view param);

/// xoshiro256** seeded through splitmix64; fast and good enough for weights.
class param_stream {
public:
  explicit param_stream(uint64_t key);

  uint64_t next();

  /// Uniform in [lo, hi).
  float uniform(float lo, float hi) {
    // The top 24 bits give every float in [0, 1) at 2^-24 spacing.
    auto unit = static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
    return lo + (hi - lo) * unit;
  }

private:
  uint64_t s_[4];
};

/// Fills `out` (resized to the element count) with the values of one parameter.
void fill_param(const param_plan& p, uint64_t key, std::vector<float>& out);

/// Mixes a seed into an unrelated one; the scratch variants use it.
uint64_t derived_seed(uint64_t seed, std::string_view purpose);

} // namespace tessera::zoo
