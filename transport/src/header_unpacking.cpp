#include "header_unpacking.hpp"

#include "id_recovery.hpp"

#include <algorithm>
#include <new>

namespace tessera::transport::detail {

namespace {

/// The frames and the unpacked header, kept alive as one unit by decoded tensors.
struct held_message {
  frame_list frames;
  msgpack::object_handle header;
};

/// Strings and bins stay in the received frame instead of being copied to the zone.
bool reference_all(msgpack::type::object_type, size_t, void*) {
  return true;
}

/// Arrays and maps are bounded while unpacking, because their elements are allocated
/// before they are read. Strings and bins are referenced, not copied, so they are
/// only bounded by the message here; the field readers check them with their path.
msgpack::unpack_limit unpack_limits(const codec_limits& l) {
  auto arrays = std::max({l.max_list_elements, l.max_tensors, l.max_rank});
  return msgpack::unpack_limit{arrays, l.max_map_entries, l.max_message_bytes, l.max_message_bytes,
                               0,      l.max_depth};
}

bool check_size(const frame_list& frames, decode_state& st) {
  if (frames.empty())
    return st.fail(ec::malformed_request, "message: no frames");
  if (frames.size() > st.limits.max_tensors + 1)
    return st.fail(ec::message_too_large, "message: " + std::to_string(frames.size()) +
                                              " frames exceed the limit of " +
                                              std::to_string(st.limits.max_tensors + 1));
  size_t total = 0;
  for (const auto& f : frames)
    total += f.size();
  if (total > st.limits.max_message_bytes)
    return st.fail(ec::message_too_large, "message: " + std::to_string(total) +
                                              " bytes exceed the limit of " +
                                              std::to_string(st.limits.max_message_bytes));
  return true;
}

bool unpack_header(held_message& held, decode_state& st) {
  const auto& head = held.frames.front();
  auto* data = static_cast<const char*>(head.data());
  size_t offset = 0;
  try {
    held.header = msgpack::unpack(data, head.size(), offset, reference_all, nullptr,
                                  unpack_limits(st.limits));
  } catch (const msgpack::depth_size_overflow&) {
    return st.fail(ec::malformed_request, "message: nested deeper than " +
                                              std::to_string(st.limits.max_depth) + " levels");
  } catch (const msgpack::size_overflow& e) {
    return st.fail(ec::message_too_large,
                   std::string{"message: a string, list or map exceeds its limit ("} + e.what() +
                       ")");
  } catch (const msgpack::insufficient_bytes&) {
    return st.fail(ec::malformed_request, "message: MessagePack header is truncated");
  } catch (const msgpack::unpack_error& e) {
    return st.fail(ec::malformed_request,
                   std::string{"message: invalid MessagePack ("} + e.what() + ")");
  }
  if (offset != head.size())
    return st.fail(ec::malformed_request, "message: " + std::to_string(head.size() - offset) +
                                              " bytes after the header map");
  return true;
}

} // namespace

bool open_message(frame_list frames, decode_state& st, field_map& root, std::string& id) {
  try {
    if (!frames.empty())
      id = recover_id(static_cast<const char*>(frames.front().data()), frames.front().size(),
                      st.limits.max_string_bytes);
    if (!check_size(frames, st))
      return false;
    auto held = std::make_shared<held_message>();
    held->frames = std::move(frames);
    if (!unpack_header(*held, st))
      return false;
    st.frames = &held->frames;
    st.frame_used.assign(held->frames.size(), false);
    st.owner = held;
    return root.open(held->header.get(), "", st);
  } catch (const std::bad_alloc&) {
    return st.fail(ec::message_too_large, "message: out of memory while decoding");
  } catch (const std::exception& e) {
    return st.fail(ec::malformed_request, std::string{"message: "} + e.what());
  }
}

} // namespace tessera::transport::detail
