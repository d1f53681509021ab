#include "tensor_fields.hpp"

#include <cstdint>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor data travels little-endian and is used in place");

namespace tessera::transport::detail {

namespace {

bool read_datatype(const field_map& fields, dtype& out) {
  std::string name;
  if (!fields.required("datatype", name))
    return false;
  auto parsed = parse_dtype(name);
  if (!parsed)
    return fields.state().fail(ec::dtype_mismatch,
                               fields.path_of("datatype") + ": unknown datatype \"" + name +
                                   "\" (expected FP32, FP64, FP16, BF16, INT8, INT16, "
                                   "INT32, INT64, UINT8 or BOOL)");
  out = *parsed;
  return true;
}

/// Reads `shape`; dimensions must be >= min_dim (0 for data, -1 for metadata).
bool read_shape(const field_map& fields, int64_t min_dim, std::vector<int64_t>& out) {
  auto& st = fields.state();
  auto path = fields.path_of("shape");
  auto* obj = fields.find("shape");
  if (obj == nullptr)
    return st.fail(ec::malformed_request, path + ": missing field");
  if (obj->type != msgpack::type::ARRAY)
    return st.fail(ec::malformed_request, path + ": expected array of integers");
  if (obj->via.array.size > st.limits.max_rank)
    return st.fail(ec::invalid_argument, path + ": rank " + std::to_string(obj->via.array.size) +
                                             " exceeds the limit of " +
                                             std::to_string(st.limits.max_rank));
  out.resize(obj->via.array.size);
  for (size_t i = 0; i < out.size(); ++i) {
    auto dim_path = index_path(path, i);
    if (!read(obj->via.array.ptr[i], dim_path, st, out[i]))
      return false;
    if (out[i] < min_dim)
      return st.fail(ec::invalid_argument, dim_path + ": " + (out[i] < 0 ? "negative" : "invalid") +
                                               " dimension " + std::to_string(out[i]));
  }
  return true;
}

/// Bytes of a concrete shape, refusing products above the tensor limit (which also
/// rules out overflow).
bool tensor_bytes(const field_map& fields, const tensor_spec& spec, size_t& out) {
  auto& st = fields.state();
  size_t limit = st.limits.max_tensor_bytes;
  size_t bytes = element_bytes(spec.type);
  for (auto dim : spec.shape) {
    auto d = static_cast<size_t>(dim);
    if (d != 0 && bytes > limit / d)
      return st.fail(ec::message_too_large,
                     fields.path_of("shape") + ": " + shape_to_string(spec.shape) + " of " +
                         to_kserve_name(spec.type) + " exceeds the tensor limit of " +
                         std::to_string(limit) + " bytes");
    bytes *= d;
  }
  out = bytes;
  if (bytes > limit) // a scalar under an absurdly small limit
    return st.fail(ec::message_too_large, fields.path_of("shape") +
                                              ": tensor exceeds the limit of " +
                                              std::to_string(limit) + " bytes");
  return true;
}

/// Finds the bytes of `data`: an inline bin or a {"frame": k} reference.
bool locate_data(const field_map& fields, const std::byte*& data, size_t& size) {
  auto& st = fields.state();
  auto path = fields.path_of("data");
  auto* obj = fields.find("data");
  if (obj == nullptr)
    return st.fail(ec::malformed_request, path + ": missing field");
  if (obj->type == msgpack::type::BIN) {
    data = reinterpret_cast<const std::byte*>(obj->via.bin.ptr);
    size = obj->via.bin.size;
    return true;
  }
  if (obj->type != msgpack::type::MAP)
    return st.fail(ec::malformed_request, path + ": expected bin or {\"frame\": k}");
  field_map ref;
  uint64_t k = 0;
  if (!ref.open(*obj, path, st) || !ref.required("frame", k))
    return false;
  auto frames = st.frames->size();
  if (k == 0 || k >= frames)
    return st.fail(ec::malformed_request, path + ".frame: frame " + std::to_string(k) +
                                              " does not exist (the message has " +
                                              std::to_string(frames) + " frames)");
  if (st.frame_used[k])
    return st.fail(ec::malformed_request,
                   path + ".frame: frame " + std::to_string(k) + " is referenced twice");
  st.frame_used[k] = true;
  const auto& frame = (*st.frames)[k];
  data = static_cast<const std::byte*>(frame.data());
  size = frame.size();
  return true;
}

bool read_tensor(const msgpack::object& obj, const std::string& path, decode_state& st,
                 tensor_payload& out) {
  field_map fields;
  auto& spec = out.tensor.spec;
  size_t expected = 0;
  const std::byte* data = nullptr;
  size_t size = 0;
  if (!fields.open(obj, path, st) || !required_name(fields, "name", out.name) ||
      !read_datatype(fields, spec.type) || !read_shape(fields, 0, spec.shape) ||
      !tensor_bytes(fields, spec, expected) || !locate_data(fields, data, size))
    return false;
  if (size != expected)
    return st.fail(ec::shape_mismatch, fields.path_of("data") + ": " + std::to_string(size) +
                                           " bytes, but " + shape_to_string(spec.shape) + " of " +
                                           to_kserve_name(spec.type) + " needs " +
                                           std::to_string(expected));
  auto align = element_bytes(spec.type);
  if (reinterpret_cast<uintptr_t>(data) % align != 0) {
    // Inline bins sit at any offset; backends want element-aligned data, so copy.
    out.tensor = tensor_buffer::copy_of(spec, data);
    return true;
  }
  out.tensor.data = data;
  out.tensor.bytes = size;
  out.tensor.owner = st.owner;
  return true;
}

bool read_metadata(const msgpack::object& obj, const std::string& path, decode_state& st,
                   tensor_metadata& out) {
  field_map fields;
  return fields.open(obj, path, st) && required_name(fields, "name", out.name) &&
         read_datatype(fields, out.spec.type) && read_shape(fields, -1, out.spec.shape);
}

template <class T, class ReadOne>
bool read_named_list(const msgpack::object& obj, const std::string& path, decode_state& st,
                     std::vector<T>& out, ReadOne read_one) {
  if (!expect_array(obj, path, st, st.limits.max_tensors))
    return false;
  out.resize(obj.via.array.size);
  for (size_t i = 0; i < out.size(); ++i) {
    auto item_path = index_path(path, i);
    if (!read_one(obj.via.array.ptr[i], item_path, st, out[i]))
      return false;
    for (size_t j = 0; j < i; ++j)
      if (out[j].name == out[i].name)
        return st.fail(ec::invalid_argument,
                       item_path + ".name: duplicate tensor name \"" + out[i].name + "\"");
  }
  return true;
}

void release_owner(void*, void* hint) {
  delete static_cast<std::shared_ptr<const void>*>(hint);
}

/// A frame that shares the tensor's bytes; copies only when nothing owns them.
zmq::message_t data_frame(const tensor_buffer& t) {
  if (!t.owner)
    return zmq::message_t{t.data, t.bytes};
  auto* hint = new std::shared_ptr<const void>(t.owner);
  try {
    return zmq::message_t{const_cast<std::byte*>(t.data), t.bytes, &release_owner, hint};
  } catch (...) {
    delete hint;
    throw;
  }
}

bool check_tensor(encode_state& st, const tensor_payload& p, const std::string& path) {
  const auto& t = p.tensor;
  if (p.name.empty())
    return st.fail(ec::invalid_argument, path + ".name: empty name");
  if (!t.spec.concrete())
    return st.fail(ec::invalid_argument,
                   path + ".shape: " + shape_to_string(t.spec.shape) + " is not concrete");
  if (t.bytes > st.limits.max_tensor_bytes)
    return st.fail(ec::message_too_large,
                   path + ": " + std::to_string(t.bytes) + " bytes exceed the tensor limit");
  if (t.bytes != t.spec.bytes() || (t.data == nullptr && t.bytes > 0))
    return st.fail(ec::invalid_argument, path + ".data: " + std::to_string(t.bytes) +
                                             " bytes do not match " + to_string(t.spec));
  return true;
}

} // namespace

bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          std::vector<tensor_payload>& out) {
  return read_named_list(obj, path, st, out, read_tensor);
}

bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          tensor_payload& out) {
  return read_tensor(obj, path, st, out);
}

bool read(const msgpack::object& obj, const std::string& path, decode_state& st,
          std::vector<tensor_metadata>& out) {
  return read_named_list(obj, path, st, out, read_metadata);
}

bool all_frames_used(decode_state& st) {
  for (size_t k = 1; k < st.frame_used.size(); ++k)
    if (!st.frame_used[k])
      return st.fail(ec::malformed_request,
                     "frame " + std::to_string(k) + " is not referenced by any tensor");
  return true;
}

bool write_tensors(encode_state& st, const std::string& path,
                   const std::vector<tensor_payload>& tensors) {
  if (tensors.size() > st.limits.max_tensors)
    return st.fail(ec::message_too_large, path + ": " + std::to_string(tensors.size()) +
                                              " tensors exceed the limit of " +
                                              std::to_string(st.limits.max_tensors));
  st.packer.pack_array(static_cast<uint32_t>(tensors.size()));
  for (size_t i = 0; i < tensors.size(); ++i)
    if (!write_tensor(st, index_path(path, i), tensors[i]))
      return false;
  return true;
}

bool write_tensor(encode_state& st, const std::string& path, const tensor_payload& p) {
  if (!check_tensor(st, p, path))
    return false;
  const auto& t = p.tensor;
  st.packer.pack_map(4);
  st.field("name", p.name);
  st.field("datatype", to_kserve_name(t.spec.type));
  st.field("shape", t.spec.shape);
  st.str("data");
  if (t.bytes < st.limits.frame_threshold_bytes) {
    st.packer.pack_bin(static_cast<uint32_t>(t.bytes));
    st.packer.pack_bin_body(reinterpret_cast<const char*>(t.data), static_cast<uint32_t>(t.bytes));
    return true;
  }
  st.data_frames.push_back(data_frame(t));
  st.data_frame_bytes += t.bytes;
  st.packer.pack_map(1);
  st.field("frame", static_cast<uint64_t>(st.data_frames.size()));
  return true;
}

void write_tensor_metadata(encode_state& st, const std::vector<tensor_metadata>& tensors) {
  st.packer.pack_array(static_cast<uint32_t>(tensors.size()));
  for (const auto& t : tensors) {
    st.packer.pack_map(3);
    st.field("name", t.name);
    st.field("datatype", to_kserve_name(t.spec.type));
    st.field("shape", t.spec.shape);
  }
}

} // namespace tessera::transport::detail
