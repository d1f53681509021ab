// Decodes replies on the client side, with the same limits and checks as requests:
// a server is a peer too, and a bad reply must not crash a client.
#include "header_unpacking.hpp"
#include "model_fields.hpp"
#include "operation_dispatch.hpp"

#include "tessera/transport/codec.hpp"

#include <new>

namespace tessera::transport {

using namespace detail;

namespace {

/// Reads an array of maps, each filled by `read_item`.
template <class T, class ReadItem>
bool read_records(const field_map& f, std::string_view key, std::vector<T>& out,
                  ReadItem read_item) {
  auto& st = f.state();
  auto path = f.path_of(key);
  auto* obj = f.find(key);
  if (obj == nullptr)
    return true;
  if (!expect_array(*obj, path, st, st.limits.max_list_elements))
    return false;
  out.resize(obj->via.array.size);
  for (size_t i = 0; i < out.size(); ++i) {
    field_map item;
    if (!item.open(obj->via.array.ptr[i], index_path(path, i), st) || !read_item(item, out[i]))
      return false;
  }
  return true;
}

// A node's report of its device (node_holdings), when the request asked.
bool read_holdings(const field_map& f, std::optional<node_holdings>& out) {
  auto* obj = f.find("holdings");
  if (obj == nullptr)
    return true;
  field_map h;
  node_holdings v;
  if (!h.open(*obj, f.path_of("holdings"), f.state()) || !h.required("free_bytes", v.free_bytes) ||
      !h.required("digest", v.digest) || !optional_content_ids(h, "blob_ids", v.blob_ids))
    return false;
  out = std::move(v);
  return true;
}

bool read_body(const field_map& f, infer_response& r) {
  return read_model(f, r.model_name, r.model_version) && f.required("outputs", r.outputs) &&
         f.optional("parameters", r.parameters) && read_holdings(f, r.holdings);
}

bool read_body(const field_map& f, model_load_response& r) {
  return read_model(f, r.model_name, r.model_version) &&
         f.optional("loaded_bytes", r.loaded_bytes) && f.optional("reused_bytes", r.reused_bytes);
}

bool read_body(const field_map& f, model_unload_response& r) {
  return read_model(f, r.model_name, r.model_version);
}

bool read_body(const field_map& f, model_ready_response& r) {
  return read_model(f, r.model_name, r.model_version) && f.required("ready", r.ready) &&
         f.optional("state", r.state) && f.optional("reason", r.reason);
}

bool read_body(const field_map& f, fuse_response& r) {
  return f.required("group_name", r.group_name) && f.required("models", r.models) &&
         f.optional("shared_blocks", r.shared_blocks) &&
         f.optional("not_defined_on", r.not_defined_on);
}

bool read_body(const field_map& f, repository_index_response& r) {
  return read_records(f, "models", r.models, [](const field_map& m, model_index_entry& e) {
    return m.required("name", e.name) && m.optional("version", e.version) &&
           m.required("state", e.state) && m.optional("reason", e.reason);
  });
}

/// An object `key` of `parent` that may be absent (then `out` stays empty);
/// `read_fields` reads its fields into a T.
template <class T, class Fields>
bool read_optional_object(const field_map& parent, const char* key, std::optional<T>& out,
                          Fields read_fields) {
  auto* obj = parent.find(key);
  if (obj == nullptr)
    return true;
  field_map f;
  T value;
  if (!f.open(*obj, parent.path_of(key), parent.state()) || !read_fields(f, value))
    return false;
  out = std::move(value);
  return true;
}

/// An executor's stream figures, when present; every figure is optional, so a
/// newer node may leave some out.
bool read_stream(const field_map& executor, std::optional<stream_entry>& out) {
  return read_optional_object(executor, "stream", out, [](const field_map& f, stream_entry& s) {
    return f.optional("runs", s.runs) && f.optional("failed_runs", s.failed_runs) &&
           f.optional("blocks", s.blocks) && f.optional("blobs_read", s.blobs_read) &&
           f.optional("bytes_read", s.bytes_read) && f.optional("copies", s.copies) &&
           f.optional("bytes_copied", s.bytes_copied) &&
           f.optional("waited_blocks", s.waited_blocks) && f.optional("wait_us", s.wait_us) &&
           f.optional("compute_us", s.compute_us) && f.optional("forced_blocks", s.forced_blocks) &&
           f.optional("trimmed_blocks", s.trimmed_blocks) &&
           f.optional("peak_held_bytes", s.peak_held_bytes) &&
           f.optional("budget_bytes", s.budget_bytes) &&
           f.optional("last_share_bytes", s.last_share_bytes) &&
           f.optional("last_window_blocks", s.last_window_blocks);
  });
}

/// The node's host memory figures, when present (every figure optional).
bool read_host_memory(const field_map& status, std::optional<host_memory_entry>& out) {
  return read_optional_object(
      status, "host_memory", out, [](const field_map& f, host_memory_entry& h) {
        return f.optional("budget_bytes", h.budget_bytes) &&
               f.optional("total_bytes", h.total_bytes) &&
               f.optional("mapped_files_bytes", h.mapped_files_bytes) &&
               f.optional("kept_device_bytes", h.kept_device_bytes) &&
               f.optional("kept_blocks_bytes", h.kept_blocks_bytes) &&
               f.optional("request_buffers_bytes", h.request_buffers_bytes) &&
               f.optional("trimmed_bytes", h.trimmed_bytes);
      });
}

bool read_body(const field_map& f, server_status_response& r) {
  return f.optional("node_name", r.node_name) && f.optional("uptime_ms", r.uptime_ms) &&
         f.optional("requests_in_flight", r.requests_in_flight) &&
         f.optional("requests_served", r.requests_served) &&
         f.optional("requests_queued", r.requests_queued) &&
         read_records(f, "nodes", r.nodes,
                      [](const field_map& m, node_entry& n) {
                        return m.required("name", n.name) && m.required("state", n.state);
                      }) &&
         read_records(f, "devices", r.devices,
                      [](const field_map& m, device_entry& d) {
                        return m.required("name", d.name) &&
                               m.required("used_bytes", d.used_bytes) &&
                               m.required("budget_bytes", d.budget_bytes);
                      }) &&
         read_records(f, "executors", r.executors,
                      [](const field_map& m, executor_entry& e) {
                        return m.required("name", e.name) && m.optional("models", e.models) &&
                               m.optional("served", e.served) &&
                               m.optional("streamed", e.streamed) && read_stream(m, e.stream);
                      }) &&
         read_host_memory(f, r.host_memory);
}

bool read_body(const field_map& f, health_response& r) {
  return f.required("live", r.live) && f.required("ready", r.ready);
}

bool read_body(const field_map& f, metadata_response& r) {
  return f.required("name", r.name) && f.optional("version", r.version) &&
         f.optional("extensions", r.extensions) && f.optional("versions", r.versions) &&
         f.optional("platform", r.platform) && f.optional("inputs", r.inputs) &&
         f.optional("outputs", r.outputs);
}

bool read_body(const field_map& f, fetch_blob_response& r) {
  if (!f.required("blob", r.blob))
    return false;
  if (!parse_content_id(r.blob.name))
    return f.state().fail(ec::malformed_request,
                          "blob.name: \"" + r.blob.name + "\" is not a blob id (32 hex digits)");
  return true;
}

bool read_body(const field_map& f, fetch_skeleton_response& r) {
  if (!required_content_id(f, "skeleton_id", r.skeleton_id) || !f.required("kind", r.kind) ||
      !required_bin(f, "data", r.data))
    return false;
  if (r.kind != "script" && r.kind != "module")
    return f.state().fail(ec::malformed_request,
                          "kind: \"" + r.kind + "\" is neither \"script\" nor \"module\"");
  return true;
}

bool read_body(const field_map& f, fetch_manifest_response& r) {
  return read_model(f, r.model_name, r.model_version) && required_bin(f, "manifest", r.manifest);
}

/// Turns {code, name, message} into the caf::error the server meant.
bool read_error(const field_map& root, caf::error& out) {
  field_map err;
  uint64_t code = 0;
  std::string message;
  auto* obj = root.find("error");
  if (obj == nullptr)
    return root.state().fail(ec::malformed_request, "error: missing field");
  if (!err.open(*obj, "error", root.state()) || !err.required("code", code) ||
      !err.optional("message", message))
    return false;
  if (code == 0 || code > 255)
    return root.state().fail(ec::malformed_request,
                             "error.code: " + std::to_string(code) + " is not an error code");
  out = make_error(static_cast<ec>(code), std::move(message));
  return true;
}

} // namespace

decoded<response_body> decode_response(frame_list frames, const codec_limits& limits) {
  decoded<response_body> out;
  decode_state st{limits};
  caf::error server_error;
  try {
    field_map root;
    bool ok = false;
    response_body body;
    if (open_message(std::move(frames), st, root, out.id) && root.required("id", out.id) &&
        root.required("ok", ok) &&
        root.optional("uplink_share_bytes_per_s", out.uplink_share_bytes_per_s)) {
      if (!ok) {
        if (read_error(root, server_error))
          out.value = std::move(server_error);
      } else if (read_operation(root, body,
                                [](const field_map& f, auto& v) { return read_body(f, v); })) {
        out.value = std::move(body);
      }
    }
  } catch (const std::bad_alloc&) {
    st.fail(ec::message_too_large, "message: out of memory while decoding");
  } catch (const std::exception& e) {
    st.fail(ec::malformed_request, std::string{"message: "} + e.what());
  }
  if (st.error)
    out.value = wrap(st.error, "reply");
  return out;
}

} // namespace tessera::transport
