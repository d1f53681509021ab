// Tessera's version, as the top-level CMakeLists.txt's project() declares it.
#pragma once

namespace tessera {

/// "MAJOR.MINOR.PATCH".
const char* version();

} // namespace tessera
