#include "tessera/core/memory_pressure.hpp"

#include "tessera/core/error.hpp"

#include <cmath>
#include <string>

namespace tessera {

const char* to_string(pressure_level level) {
  switch (level) {
    case pressure_level::normal: return "normal";
    case pressure_level::low: return "low";
    case pressure_level::high: return "high";
    case pressure_level::critical: return "critical";
  }
  return "unknown";
}

caf::error validate(const watermarks& m) {
  auto in_range = [](double x) { return x > 0.0 && x <= 1.0; };
  if (!in_range(m.low) || !in_range(m.high) || !in_range(m.critical))
    return make_error(ec::bad_config, "watermarks must lie in (0, 1]");
  if (!(m.low < m.high && m.high < m.critical))
    return make_error(ec::bad_config, "watermarks must increase: low " + std::to_string(m.low)
                                        + ", high " + std::to_string(m.high) + ", critical "
                                        + std::to_string(m.critical));
  return {};
}

namespace {

// The byte threshold of a watermark, rounded up so that "at or above" is exact.
uint64_t threshold(uint64_t budget, double fraction) {
  return static_cast<uint64_t>(std::ceil(static_cast<double>(budget) * fraction));
}

} // namespace

pressure_level pressure_of(uint64_t used, uint64_t budget, const watermarks& m) {
  if (budget == 0)
    return used > 0 ? pressure_level::critical : pressure_level::normal;
  if (used >= threshold(budget, m.critical))
    return pressure_level::critical;
  if (used >= threshold(budget, m.high))
    return pressure_level::high;
  if (used >= threshold(budget, m.low))
    return pressure_level::low;
  return pressure_level::normal;
}

uint64_t bytes_above_low_watermark(uint64_t used, uint64_t budget, const watermarks& m) {
  auto low = threshold(budget, m.low);
  return used >= low ? used - low + 1 : 0;
}

} // namespace tessera
