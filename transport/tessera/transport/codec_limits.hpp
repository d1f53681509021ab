// The bounds the wire codec enforces before it trusts a message, and the size above
// which a tensor travels in its own frame. One struct, so a gateway can take it from
// its config and a client can match the server it talks to.
#pragma once

#include <caf/error.hpp>

#include <cstddef>
#include <cstdint>

namespace tessera::transport {

/// Limits of the codec. Decoding checks every one of them before allocating or
/// using what a peer sent; the defaults suit edge models (images, short sequences).
struct codec_limits {
  /// Bytes of a whole message: the header frame plus every tensor frame.
  size_t max_message_bytes = size_t{256} << 20;

  /// Bytes of one tensor's data (inline or in a frame).
  size_t max_tensor_bytes = size_t{256} << 20;

  /// Tensors in one request or response (`inputs`, `outputs`).
  size_t max_tensors = 64;

  /// Dimensions of one tensor.
  size_t max_rank = 8;

  /// Bytes of one string: ids, names, datatypes, parameter values.
  size_t max_string_bytes = 4096;

  /// Elements of any other array (shapes, model lists, repository entries).
  size_t max_list_elements = 4096;

  /// Entries of one map (`parameters`, the header itself).
  size_t max_map_entries = 256;

  /// Nesting of arrays and maps; the deepest valid message nests 4 levels.
  size_t max_depth = 8;

  /// Tensors of at least this many bytes are sent in their own frame, without a
  /// copy, and referenced from the header as {"frame": k}; smaller ones are inlined.
  size_t frame_threshold_bytes = size_t{64} << 10;
};

/// Checks that the limits are usable (all positive, tensor bound within message
/// bound); errors name the field, with code bad_config.
caf::error validate(const codec_limits& limits);

} // namespace tessera::transport
