// Test fixture: a tiny tree of MessagePack values that tests build literally and
// mutate field by field, to hand the decoder exactly the malformed message they mean.
#pragma once

#include "tessera/transport/codec.hpp"

#include <msgpack.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tessera::test {

struct wire_value;
using wire_map = std::vector<std::pair<std::string, wire_value>>;
using wire_array = std::vector<wire_value>;

/// Bytes to pack as a MessagePack bin (not a string).
struct wire_bin {
  std::string bytes;
};

struct wire_value {
  std::variant<std::nullptr_t, bool, int64_t, uint64_t, double, std::string, wire_bin, wire_array,
               wire_map>
      v;

  wire_value() : v(nullptr) {
    // nop
  }
  template <class T>
  wire_value(T x) : v(std::move(x)) {
    // nop
  }
  wire_value(int x) : v(int64_t{x}) {
    // nop
  }
  wire_value(const char* s) : v(std::string{s}) {
    // nop
  }

  /// The entry `key` of a map value (added when absent).
  wire_value& operator[](const std::string& key) {
    auto& m = std::get<wire_map>(v);
    for (auto& kv : m)
      if (kv.first == key)
        return kv.second;
    return m.emplace_back(key, wire_value{}).second;
  }

  /// Element `i` of an array value.
  wire_value& at(size_t i) {
    return std::get<wire_array>(v).at(i);
  }

  /// Removes `key` from a map value.
  void erase(const std::string& key) {
    auto& m = std::get<wire_map>(v);
    for (auto i = m.begin(); i != m.end(); ++i)
      if (i->first == key) {
        m.erase(i);
        return;
      }
  }
};

inline void pack(msgpack::packer<msgpack::sbuffer>& pk, const wire_value& x) {
  std::visit(
      [&pk](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          pk.pack_nil();
        } else if constexpr (std::is_same_v<T, wire_bin>) {
          pk.pack_bin(static_cast<uint32_t>(v.bytes.size()));
          pk.pack_bin_body(v.bytes.data(), static_cast<uint32_t>(v.bytes.size()));
        } else if constexpr (std::is_same_v<T, wire_array>) {
          pk.pack_array(static_cast<uint32_t>(v.size()));
          for (const auto& e : v)
            pack(pk, e);
        } else if constexpr (std::is_same_v<T, wire_map>) {
          pk.pack_map(static_cast<uint32_t>(v.size()));
          for (const auto& [key, val] : v) {
            pk.pack(key);
            pack(pk, val);
          }
        } else {
          pk.pack(v);
        }
      },
      x.v);
}

/// The MessagePack bytes of a value.
inline std::string packed(const wire_value& x) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk{buf};
  pack(pk, x);
  return std::string{buf.data(), buf.size()};
}

/// A message of the given frames (frame 0 is usually packed(header)).
inline transport::frame_list frames_of(const std::vector<std::string>& parts) {
  transport::frame_list out;
  for (const auto& p : parts)
    out.emplace_back(p.data(), p.size());
  return out;
}

/// A valid infer request: one FP32 input [1,2] inline.
inline wire_value valid_infer() {
  std::string data(8, '\0');
  wire_map input{
      {"name", "x"}, {"datatype", "FP32"}, {"shape", wire_array{1, 2}}, {"data", wire_bin{data}}};
  return wire_map{{"op", "infer"},
                  {"id", "r1"},
                  {"model_name", "tiny"},
                  {"inputs", wire_array{wire_value{input}}}};
}

} // namespace tessera::test
