#include "wire_fields.hpp"

#include <limits>

namespace tessera::transport::detail {

namespace {

const char* type_name(const msgpack::object& obj) {
  switch (obj.type) {
  case msgpack::type::NIL:
    return "nil";
  case msgpack::type::BOOLEAN:
    return "bool";
  case msgpack::type::POSITIVE_INTEGER:
  case msgpack::type::NEGATIVE_INTEGER:
    return "integer";
  case msgpack::type::FLOAT32:
  case msgpack::type::FLOAT64:
    return "float";
  case msgpack::type::STR:
    return "string";
  case msgpack::type::BIN:
    return "bin";
  case msgpack::type::ARRAY:
    return "array";
  case msgpack::type::MAP:
    return "map";
  case msgpack::type::EXT:
    return "ext";
  }
  return "unknown";
}

bool wrong_type(const msgpack::object& obj, const std::string& path, decode_state& st,
                const char* expected) {
  return st.fail(ec::malformed_request,
                 path + ": expected " + expected + ", got " + type_name(obj));
}

} // namespace

bool decode_state::fail(ec code, std::string what) {
  if (!error)
    error = make_error(code, std::move(what));
  return false;
}

std::string join_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string{key} : parent + "." + std::string{key};
}

std::string index_path(const std::string& parent, size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

bool read(const msgpack::object& obj, const std::string& path, decode_state& st, std::string& out) {
  if (obj.type != msgpack::type::STR)
    return wrong_type(obj, path, st, "string");
  if (obj.via.str.size > st.limits.max_string_bytes)
    return st.fail(ec::message_too_large, path + ": string of " + std::to_string(obj.via.str.size) +
                                              " bytes exceeds the limit of " +
                                              std::to_string(st.limits.max_string_bytes));
  out.assign(obj.via.str.ptr, obj.via.str.size);
  return true;
}

bool read(const msgpack::object& obj, const std::string& path, decode_state& st, int64_t& out) {
  if (obj.type == msgpack::type::NEGATIVE_INTEGER) {
    out = obj.via.i64;
    return true;
  }
  if (obj.type != msgpack::type::POSITIVE_INTEGER)
    return wrong_type(obj, path, st, "integer");
  if (obj.via.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return st.fail(ec::invalid_argument, path + ": integer out of range");
  out = static_cast<int64_t>(obj.via.u64);
  return true;
}

bool read(const msgpack::object& obj, const std::string& path, decode_state& st, uint64_t& out) {
  if (obj.type == msgpack::type::NEGATIVE_INTEGER)
    return st.fail(ec::invalid_argument, path + ": negative value " + std::to_string(obj.via.i64));
  if (obj.type != msgpack::type::POSITIVE_INTEGER)
    return wrong_type(obj, path, st, "integer");
  out = obj.via.u64;
  return true;
}

bool read(const msgpack::object& obj, const std::string& path, decode_state& st, bool& out) {
  if (obj.type != msgpack::type::BOOLEAN)
    return wrong_type(obj, path, st, "bool");
  out = obj.via.boolean;
  return true;
}

bool expect_array(const msgpack::object& obj, const std::string& path, decode_state& st,
                  size_t max) {
  if (obj.type != msgpack::type::ARRAY)
    return wrong_type(obj, path, st, "array");
  if (obj.via.array.size > max)
    return st.fail(ec::message_too_large, path + ": " + std::to_string(obj.via.array.size) +
                                              " elements exceed the limit of " +
                                              std::to_string(max));
  return true;
}

bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          std::vector<std::string>& out) {
  if (!expect_array(obj, path, st, st.limits.max_list_elements))
    return false;
  out.resize(obj.via.array.size);
  for (size_t i = 0; i < out.size(); ++i)
    if (!read(obj.via.array.ptr[i], index_path(path, i), st, out[i]))
      return false;
  return true;
}

bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          parameter_map& out) {
  field_map fields;
  if (!fields.open(obj, path, st))
    return false;
  for (const auto& kv : obj.via.map) {
    std::string key{kv.key.via.str.ptr, kv.key.via.str.size};
    auto key_path = join_path(path, key);
    const auto& val = kv.val;
    bool ok = true;
    switch (val.type) {
    case msgpack::type::BOOLEAN:
      out[key] = val.via.boolean;
      break;
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER: {
      int64_t x = 0;
      ok = read(val, key_path, st, x);
      out[key] = x;
      break;
    }
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      out[key] = val.via.f64;
      break;
    case msgpack::type::STR: {
      std::string s;
      ok = read(val, key_path, st, s);
      out[key] = std::move(s);
      break;
    }
    default:
      return wrong_type(val, key_path, st, "bool, integer, float or string");
    }
    if (!ok)
      return false;
  }
  return true;
}

bool field_map::open(const msgpack::object& obj, std::string path, decode_state& st) {
  state_ = &st;
  path_ = std::move(path);
  if (obj.type != msgpack::type::MAP)
    return wrong_type(obj, path_.empty() ? "message" : path_, st, "map");
  if (obj.via.map.size > st.limits.max_map_entries)
    return st.fail(ec::message_too_large,
                   (path_.empty() ? "message" : path_) + ": " + std::to_string(obj.via.map.size) +
                       " entries exceed the limit of " + std::to_string(st.limits.max_map_entries));
  map_ = &obj.via.map;
  // Keys are checked once here, so find() can compare bytes without further checks.
  for (uint32_t i = 0; i < map_->size; ++i) {
    const auto& key = map_->ptr[i].key;
    if (key.type != msgpack::type::STR)
      return st.fail(ec::malformed_request, (path_.empty() ? "message" : path_) +
                                                ": map key is a " + type_name(key) +
                                                ", not a string");
    std::string_view name{key.via.str.ptr, key.via.str.size};
    for (uint32_t j = 0; j < i; ++j) {
      const auto& other = map_->ptr[j].key;
      if (std::string_view{other.via.str.ptr, other.via.str.size} == name)
        return st.fail(ec::malformed_request, path_of(name) + ": duplicate field");
    }
  }
  return true;
}

const msgpack::object* field_map::find(std::string_view key) const {
  for (uint32_t i = 0; i < map_->size; ++i) {
    const auto& kv = map_->ptr[i];
    if (std::string_view{kv.key.via.str.ptr, kv.key.via.str.size} == key)
      return kv.val.type == msgpack::type::NIL ? nullptr : &kv.val;
  }
  return nullptr;
}

bool required_name(const field_map& fields, std::string_view key, std::string& out) {
  if (!fields.required(key, out))
    return false;
  if (out.find_first_not_of(" \t\r\n") == std::string::npos)
    return fields.state().fail(ec::invalid_argument, fields.path_of(key) + ": empty name");
  return true;
}

bool required_content_id(const field_map& fields, std::string_view key, content_id& out) {
  std::string hex;
  if (!fields.required(key, hex))
    return false;
  auto id = parse_content_id(hex);
  if (!id)
    return fields.state().fail(ec::invalid_argument,
                               fields.path_of(key) + ": " + describe(id.error()));
  out = *id;
  return true;
}

std::string pack_content_ids(const std::vector<content_id>& ids) {
  std::string out;
  out.reserve(ids.size() * 16);
  for (const auto& id : ids)
    for (uint64_t half : {id.hi, id.lo})
      for (int b = 0; b < 8; ++b)
        out.push_back(static_cast<char>((half >> (8 * b)) & 0xff));
  return out;
}

bool optional_content_ids(const field_map& fields, std::string_view key,
                          std::optional<std::vector<content_id>>& out) {
  if (fields.find(key) == nullptr)
    return true;
  std::string bytes;
  if (!required_bin(fields, key, bytes))
    return false;
  if (bytes.size() % 16 != 0)
    return fields.state().fail(ec::malformed_request,
                               fields.path_of(key) + ": " + std::to_string(bytes.size()) +
                                   " bytes are not a whole number of 16-byte ids");
  std::vector<content_id> ids(bytes.size() / 16);
  auto half_at = [&](size_t offset) {
    uint64_t v = 0;
    for (int b = 0; b < 8; ++b)
      v |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[offset + b])) << (8 * b);
    return v;
  };
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = content_id{half_at(16 * i), half_at(16 * i + 8)};
  out = std::move(ids);
  return true;
}

bool required_bin(const field_map& fields, std::string_view key, std::string& out) {
  auto& st = fields.state();
  auto* obj = fields.find(key);
  if (obj == nullptr)
    return st.fail(ec::malformed_request, fields.path_of(key) + ": missing field");
  if (obj->type != msgpack::type::BIN)
    return wrong_type(*obj, fields.path_of(key), st, "bin");
  if (obj->via.bin.size > st.limits.max_tensor_bytes)
    return st.fail(ec::message_too_large,
                   fields.path_of(key) + ": " + std::to_string(obj->via.bin.size) +
                       " bytes exceed the limit of " + std::to_string(st.limits.max_tensor_bytes));
  out.assign(obj->via.bin.ptr, obj->via.bin.size);
  return true;
}

} // namespace tessera::transport::detail
