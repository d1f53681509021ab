// Internal: finds the top-level "id" of a MessagePack header without trusting the
// rest of it, so that even a message that fails to decode can be answered.
#pragma once

#include <cstddef>
#include <string>

namespace tessera::transport::detail {

/// The string value of key "id" of the top-level map in `data`, read up to the
/// first malformed byte; empty when there is none or it is longer than max_bytes.
std::string recover_id(const char* data, size_t size, size_t max_bytes);

} // namespace tessera::transport::detail
