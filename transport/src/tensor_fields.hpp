// Internal: tensors on the wire, {name, datatype, shape, data}, where data is an
// inline bin or {"frame": k} naming a frame of the same message. Decoded tensors
// view the received bytes and keep the message alive through their owner.
#pragma once

#include "wire_fields.hpp"
#include "wire_writer.hpp"

#include <vector>

namespace tessera::transport::detail {

/// Reads a list of named tensors (`inputs`, `outputs`): bounded in count, rank and
/// bytes, with unique names and data whose size equals shape x datatype.
bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          std::vector<tensor_payload>& out);

/// Reads one named tensor (a map), with the same checks as a list entry.
bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          tensor_payload& out);

/// Reads a list of tensor types without data: {name, datatype, shape}, -1 allowed.
bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          std::vector<tensor_metadata>& out);

/// Checks that every data frame of the message was referenced by exactly one tensor.
bool all_frames_used(decode_state& st);

/// Packs a list of named tensors; large ones become data frames sharing their owner.
bool write_tensors(encode_state& st, const std::string& path,
                   const std::vector<tensor_payload>& tensors);

/// Packs one named tensor; a large one becomes a data frame sharing its owner.
bool write_tensor(encode_state& st, const std::string& path, const tensor_payload& tensor);

/// Packs a list of tensor types.
void write_tensor_metadata(encode_state& st, const std::vector<tensor_metadata>& tensors);

} // namespace tessera::transport::detail
