#include "wire_writer.hpp"

#include <cstdlib>

namespace tessera::transport::detail {

bool encode_state::fail(ec code, std::string what) {
  if (!error)
    error = make_error(code, std::move(what));
  return false;
}

void write_strings(encode_state& st, const std::vector<std::string>& values) {
  st.packer.pack_array(static_cast<uint32_t>(values.size()));
  for (const auto& v : values)
    st.str(v);
}

void write_parameters(encode_state& st, const parameter_map& params) {
  st.packer.pack_map(static_cast<uint32_t>(params.size()));
  for (const auto& [key, value] : params) {
    st.str(key);
    if (auto* s = std::get_if<std::string>(&value))
      st.str(*s);
    else
      std::visit([&st](const auto& x) { st.packer.pack(x); }, value);
  }
}

caf::expected<frame_list> finish(encode_state& st) {
  if (st.error)
    return st.error;
  auto total = st.buffer.size() + st.data_frame_bytes;
  if (total > st.limits.max_message_bytes)
    return make_error(ec::message_too_large, "message of " + std::to_string(total) +
                                                 " bytes exceeds the limit of " +
                                                 std::to_string(st.limits.max_message_bytes));
  frame_list frames;
  frames.reserve(st.data_frames.size() + 1);
  auto size = st.buffer.size();
  // The sbuffer's malloc'ed block becomes the frame; ZeroMQ frees it when sent.
  frames.emplace_back(st.buffer.release(), size, [](void* data, void*) { std::free(data); });
  for (auto& f : st.data_frames)
    frames.push_back(std::move(f));
  return frames;
}

} // namespace tessera::transport::detail
