// Internal: the state of one encode (MessagePack header buffer, data frames, first
// error) and the small writers the request and response encoders share.
#pragma once

#include "tessera/core/error.hpp"
#include "tessera/transport/codec.hpp"

#include <msgpack.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::transport::detail {

/// One message being encoded: the header map is packed into `buffer`, large tensors
/// are appended to `data_frames` (frame k of the message is data_frames[k - 1]).
struct encode_state {
  explicit encode_state(const codec_limits& lim) : limits(lim), packer(buffer) {
    // nop
  }

  const codec_limits& limits;
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer;
  frame_list data_frames;
  size_t data_frame_bytes = 0;
  caf::error error;

  /// Records the first failure; returns false.
  bool fail(ec code, std::string what);

  /// Packs a string key or value.
  void str(std::string_view s) {
    packer.pack_str(static_cast<uint32_t>(s.size()));
    packer.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  }

  /// Packs `key` followed by `value` (any type msgpack packs: integers, bools...).
  template <class T>
  void field(std::string_view key, const T& value) {
    str(key);
    packer.pack(value);
  }

  void field(std::string_view key, const std::string& value) {
    str(key);
    str(value);
  }

  void field(std::string_view key, const char* value) {
    str(key);
    str(value);
  }

  /// Packs `key` followed by `bytes` as a bin.
  void bin(std::string_view key, std::string_view bytes) {
    str(key);
    packer.pack_bin(static_cast<uint32_t>(bytes.size()));
    packer.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
  }
};

/// Packs a list of strings.
void write_strings(encode_state& st, const std::vector<std::string>& values);

/// Packs a parameters map.
void write_parameters(encode_state& st, const parameter_map& params);

/// Turns a finished encode into frames: header first, then the data frames. The
/// header buffer is handed to ZeroMQ without a copy. Fails with message_too_large
/// when the whole message exceeds the limit.
caf::expected<frame_list> finish(encode_state& st);

} // namespace tessera::transport::detail
