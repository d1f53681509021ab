// Decodes and validates requests. Each operation's reader lists its fields in wire
// order; the first failure stops decoding with a code and the field's path.
#include "header_unpacking.hpp"
#include "model_fields.hpp"
#include "operation_dispatch.hpp"

#include "tessera/transport/codec.hpp"

#include <new>

namespace tessera::transport {

using namespace detail;

namespace {

bool read_output_names(const field_map& fields, std::vector<std::string>& out) {
  auto& st = fields.state();
  auto path = fields.path_of("outputs");
  auto* obj = fields.find("outputs");
  if (obj == nullptr)
    return true;
  if (!expect_array(*obj, path, st, st.limits.max_tensors))
    return false;
  out.resize(obj->via.array.size);
  for (size_t i = 0; i < out.size(); ++i) {
    field_map item;
    if (!item.open(obj->via.array.ptr[i], index_path(path, i), st) ||
        !required_name(item, "name", out[i]))
      return false;
  }
  return true;
}

bool read_body(const field_map& f, infer_request& r) {
  auto& st = f.state();
  if (!read_model(f, r.model_name, r.model_version) || !f.required("inputs", r.inputs) ||
      !read_output_names(f, r.outputs) || !f.optional("parameters", r.parameters) ||
      !f.optional("deadline_ms", r.deadline_ms) || !f.optional("priority", r.priority))
    return false;
  if (r.inputs.empty())
    return st.fail(ec::missing_input, "inputs: infer needs at least one input tensor");
  if (r.deadline_ms && *r.deadline_ms < 0)
    return st.fail(ec::invalid_argument,
                   "deadline_ms: negative budget " + std::to_string(*r.deadline_ms));
  return true;
}

bool read_body(const field_map& f, model_load_request& r) {
  return read_model(f, r.model_name, r.model_version) && f.optional("parameters", r.parameters);
}

bool read_body(const field_map& f, model_unload_request& r) {
  return read_model(f, r.model_name, r.model_version);
}

bool read_body(const field_map& f, model_ready_request& r) {
  return read_model(f, r.model_name, r.model_version);
}

bool read_body(const field_map& f, fuse_request& r) {
  auto& st = f.state();
  if (!required_name(f, "group_name", r.group_name) || !f.required("models", r.models) ||
      !f.optional("local_only", r.local_only))
    return false;
  if (r.models.size() < 2)
    return st.fail(ec::invalid_argument, "models: a fused group needs at least two models");
  for (size_t i = 0; i < r.models.size(); ++i) {
    if (r.models[i].empty())
      return st.fail(ec::invalid_argument, index_path("models", i) + ": empty name");
    for (size_t j = 0; j < i; ++j)
      if (r.models[j] == r.models[i])
        return st.fail(ec::invalid_argument,
                       index_path("models", i) + ": \"" + r.models[i] + "\" is listed twice");
  }
  return true;
}

bool read_body(const field_map& f, repository_index_request& r) {
  return f.optional("ready_only", r.ready_only);
}

bool read_body(const field_map&, server_status_request&) {
  return true;
}

bool read_body(const field_map& f, health_request& r) {
  std::string probe = "ready";
  if (!f.optional("probe", probe))
    return false;
  if (probe != "live" && probe != "ready")
    return f.state().fail(ec::invalid_argument,
                          "probe: \"" + probe + "\" is neither \"live\" nor \"ready\"");
  r.probe = probe == "live" ? health_probe::live : health_probe::ready;
  return true;
}

bool read_body(const field_map& f, metadata_request& r) {
  if (f.find("model_name") == nullptr) {
    if (f.find("model_version") != nullptr)
      return f.state().fail(ec::invalid_argument, "model_version: given without model_name");
    return true;
  }
  r.model_name.emplace();
  return read_model(f, *r.model_name, r.model_version);
}

bool read_body(const field_map& f, fetch_blob_request& r) {
  return required_content_id(f, "blob_id", r.blob_id);
}

bool read_body(const field_map& f, fetch_skeleton_request& r) {
  return required_content_id(f, "skeleton_id", r.skeleton_id);
}

bool read_body(const field_map& f, fetch_manifest_request& r) {
  return read_model(f, r.model_name, r.model_version);
}

} // namespace

decoded<request_body> decode_request(frame_list frames, const codec_limits& limits) {
  decoded<request_body> out;
  decode_state st{limits};
  try {
    field_map root;
    request_body body;
    if (open_message(std::move(frames), st, root, out.id) && root.required("id", out.id) &&
        read_operation(root, body, [](const field_map& f, auto& v) { return read_body(f, v); }))
      out.value = std::move(body);
  } catch (const std::bad_alloc&) {
    st.fail(ec::message_too_large, "message: out of memory while decoding");
  } catch (const std::exception& e) {
    st.fail(ec::malformed_request, std::string{"message: "} + e.what());
  }
  if (st.error)
    out.value = std::move(st.error);
  return out;
}

} // namespace tessera::transport
