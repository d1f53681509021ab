// Memory-pressure levels: usage of a budget compared with configurable
// watermarks. The residency manager reports them; the monitor actor turns level
// changes into messages, and executors swap groups out until usage falls below
// the low watermark.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>

namespace tessera {

/// Fractions of the budget, strictly increasing, each in (0, 1].
struct watermarks {
  double low = 0.80;
  double high = 0.90;
  double critical = 0.95;
};

enum class pressure_level : uint8_t {
  normal,   ///< below the low watermark
  low,      ///< at or above the low watermark
  high,     ///< at or above the high watermark
  critical, ///< at or above the critical watermark
};

const char* to_string(pressure_level level);

/// Checks that the watermarks increase and lie in (0, 1].
caf::error validate(const watermarks& marks);

pressure_level pressure_of(uint64_t used_bytes, uint64_t budget_bytes, const watermarks& marks);

/// Bytes to free so that usage falls strictly below the low watermark; 0 when it is already.
uint64_t bytes_above_low_watermark(uint64_t used_bytes, uint64_t budget_bytes,
                                   const watermarks& marks);

} // namespace tessera
