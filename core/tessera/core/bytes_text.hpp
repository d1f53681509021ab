// Byte counts as people read them: in mebibytes (2^20 bytes), written "MiB",
// everywhere Tessera prints or says a size.
#pragma once

#include <cstdint>
#include <string>

namespace tessera {

/// "12.3 MiB" (`decimals` after the point).
std::string format_mib(uint64_t bytes, int decimals = 1);

/// The number alone, in MiB, for tables whose header says the unit.
double to_mib(uint64_t bytes);

} // namespace tessera
