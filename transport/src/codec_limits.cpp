#include "tessera/transport/codec_limits.hpp"

#include "tessera/core/error.hpp"

#include <string>
#include <utility>

namespace tessera::transport {

caf::error validate(const codec_limits& limits) {
  const std::pair<const char*, size_t> fields[] = {
      {"max_message_bytes", limits.max_message_bytes},
      {"max_tensor_bytes", limits.max_tensor_bytes},
      {"max_tensors", limits.max_tensors},
      {"max_rank", limits.max_rank},
      {"max_string_bytes", limits.max_string_bytes},
      {"max_list_elements", limits.max_list_elements},
      {"max_map_entries", limits.max_map_entries},
      {"max_depth", limits.max_depth},
  };
  for (const auto& [name, value] : fields)
    if (value == 0)
      return make_error(ec::bad_config, std::string{"codec_limits."} + name + ": must be positive");
  if (limits.max_depth < 4)
    return make_error(ec::bad_config, "codec_limits.max_depth: valid messages nest 4 levels");
  if (limits.max_message_bytes > (size_t{1} << 32) - 1)
    return make_error(ec::bad_config,
                      "codec_limits.max_message_bytes: MessagePack bins stop at 4 GiB");
  return {};
}

} // namespace tessera::transport
