#include "tessera/core/version.hpp"

namespace tessera {

const char* version() {
  return TESSERA_VERSION; // defined for this file alone by core/CMakeLists.txt
}

} // namespace tessera
