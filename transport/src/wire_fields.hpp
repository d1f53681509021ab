// Internal: typed, bounded reads of fields from a decoded MessagePack header. Every
// read checks type and limits and, on failure, records one error naming the field
// path ("inputs[1].shape[2]") so the decoders read as a list of fields.
#pragma once

#include "tessera/core/error.hpp"
#include "tessera/transport/codec.hpp"

#include <msgpack.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::transport::detail {

/// Where one decode stands: its limits, the message's frames, and its first error.
struct decode_state {
  explicit decode_state(const codec_limits& lim) : limits(lim) {
    // nop
  }

  const codec_limits& limits;
  caf::error error;

  /// The data frames (index 0 is the header) and what keeps them alive.
  const frame_list* frames = nullptr;
  std::shared_ptr<const void> owner;
  std::vector<bool> frame_used;

  /// Records the first failure; always returns false so callers can `return fail(..)`.
  bool fail(ec code, std::string what);
};

/// "parent.key", or "key" at the top level.
std::string join_path(const std::string& parent, std::string_view key);

/// "parent[i]".
std::string index_path(const std::string& parent, size_t i);

bool read(const msgpack::object& obj, const std::string& path, decode_state& st, std::string& out);
bool read(const msgpack::object& obj, const std::string& path, decode_state& st, int64_t& out);
bool read(const msgpack::object& obj, const std::string& path, decode_state& st, uint64_t& out);
bool read(const msgpack::object& obj, const std::string& path, decode_state& st, bool& out);
bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          std::vector<std::string>& out);
bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          parameter_map& out);

/// Reads an optional field's present value.
template <class T>
bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          std::optional<T>& out) {
  T value{};
  if (!read(obj, path, st, value))
    return false;
  out = std::move(value);
  return true;
}

/// Checks that `obj` is an array of at most `max` elements.
bool expect_array(const msgpack::object& obj, const std::string& path, decode_state& st,
                  size_t max);

/// A map of the header, with its path, giving typed access to its fields. Keys must
/// be unique strings; keys it does not know are ignored, so newer clients still work.
class field_map {
public:
  /// Views `obj` as a map; false (error recorded) when it is not one.
  bool open(const msgpack::object& obj, std::string path, decode_state& st);

  /// The value of `key`, or nullptr when it is absent or nil.
  const msgpack::object* find(std::string_view key) const;

  std::string path_of(std::string_view key) const {
    return join_path(path_, key);
  }

  decode_state& state() const {
    return *state_;
  }

  /// Reads a field that must be present.
  template <class T>
  bool required(std::string_view key, T& out) const {
    auto* value = find(key);
    if (value == nullptr)
      return state_->fail(ec::malformed_request, path_of(key) + ": missing field");
    return read(*value, path_of(key), *state_, out);
  }

  /// Reads a field that may be absent, leaving `out` untouched then.
  template <class T>
  bool optional(std::string_view key, T& out) const {
    auto* value = find(key);
    return value == nullptr || read(*value, path_of(key), *state_, out);
  }

private:
  const msgpack::object_map* map_ = nullptr;
  std::string path_;
  decode_state* state_ = nullptr;
};

/// A non-empty name (model, group, tensor): a string that is not blank.
bool required_name(const field_map& fields, std::string_view key, std::string& out);

/// A content id (blob, skeleton): a string of 32 hex digits; anything else is
/// invalid_argument naming the field.
bool required_content_id(const field_map& fields, std::string_view key, content_id& out);

/// Opaque bytes (a manifest's JSON, a skeleton): a `bin` of at most
/// max_tensor_bytes.
bool required_bin(const field_map& fields, std::string_view key, std::string& out);

/// Blob ids as one bin: 16 bytes each, high half first, each half little-endian.
std::string pack_content_ids(const std::vector<content_id>& ids);

/// Reads such a bin if present (a size that is not a multiple of 16 is
/// malformed_request), leaving `out` empty when it is absent.
bool optional_content_ids(const field_map& fields, std::string_view key,
                          std::optional<std::vector<content_id>>& out);

} // namespace tessera::transport::detail
