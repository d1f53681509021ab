// Internal: the first step of every decode. Checks the message's frame count and size,
// recovers its id, and unpacks frame 0 under the codec limits, keeping the frames
// and the unpacked header alive together as the owner of decoded tensors.
#pragma once

#include "wire_fields.hpp"

namespace tessera::transport::detail {

/// Opens `frames` for decoding. On success `root` is the header map and `st` holds
/// the frames, their owner and the frame bookkeeping; `id` is set whenever the header
/// names one, success or not. Never throws.
bool open_message(frame_list frames, decode_state& st, field_map& root, std::string& id);

} // namespace tessera::transport::detail
