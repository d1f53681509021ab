// Encodes requests: {op, id, ...fields of the operation}.
#include "model_fields.hpp"
#include "tensor_fields.hpp"

#include "tessera/transport/codec.hpp"

#include <new>

namespace tessera::transport {

using namespace detail;

namespace {

/// Packs the fields of each request type; `begin` opens the map with op and id.
struct request_writer {
  encode_state& st;
  const std::string& id;

  void begin(operation op, size_t entries) {
    st.packer.pack_map(static_cast<uint32_t>(entries + 2));
    st.field("op", to_string(op));
    st.field("id", id);
  }

  bool operator()(const infer_request& r) {
    begin(operation::infer, model_entries(r.model_version) + 1 + !r.outputs.empty() +
                                !r.parameters.empty() + r.deadline_ms.has_value() +
                                (r.priority != 0));
    write_model(st, r.model_name, r.model_version);
    st.str("inputs");
    if (!write_tensors(st, "inputs", r.inputs))
      return false;
    if (!r.outputs.empty()) {
      st.str("outputs");
      st.packer.pack_array(static_cast<uint32_t>(r.outputs.size()));
      for (const auto& name : r.outputs) {
        st.packer.pack_map(1);
        st.field("name", name);
      }
    }
    if (!r.parameters.empty()) {
      st.str("parameters");
      write_parameters(st, r.parameters);
    }
    if (r.deadline_ms)
      st.field("deadline_ms", *r.deadline_ms);
    if (r.priority != 0)
      st.field("priority", r.priority);
    return true;
  }

  bool operator()(const model_load_request& r) {
    begin(operation::model_load, model_entries(r.model_version) + !r.parameters.empty());
    write_model(st, r.model_name, r.model_version);
    if (!r.parameters.empty()) {
      st.str("parameters");
      write_parameters(st, r.parameters);
    }
    return true;
  }

  bool operator()(const model_unload_request& r) {
    begin(operation::model_unload, model_entries(r.model_version));
    write_model(st, r.model_name, r.model_version);
    return true;
  }

  bool operator()(const model_ready_request& r) {
    begin(operation::model_ready, model_entries(r.model_version));
    write_model(st, r.model_name, r.model_version);
    return true;
  }

  bool operator()(const fuse_request& r) {
    begin(operation::fuse, 2 + r.local_only);
    st.field("group_name", r.group_name);
    st.str("models");
    write_strings(st, r.models);
    if (r.local_only)
      st.field("local_only", true);
    return true;
  }

  bool operator()(const repository_index_request& r) {
    begin(operation::repository_index, 1);
    st.field("ready_only", r.ready_only);
    return true;
  }

  bool operator()(const server_status_request&) {
    begin(operation::server_status, 0);
    return true;
  }

  bool operator()(const health_request& r) {
    begin(operation::health, 1);
    st.field("probe", r.probe == health_probe::live ? "live" : "ready");
    return true;
  }

  bool operator()(const metadata_request& r) {
    begin(operation::metadata, r.model_name.has_value() + r.model_version.has_value());
    if (r.model_name)
      st.field("model_name", *r.model_name);
    if (r.model_version)
      st.field("model_version", *r.model_version);
    return true;
  }

  bool operator()(const fetch_blob_request& r) {
    begin(operation::fetch_blob, 1);
    st.field("blob_id", r.blob_id.to_hex());
    return true;
  }

  bool operator()(const fetch_skeleton_request& r) {
    begin(operation::fetch_skeleton, 1);
    st.field("skeleton_id", r.skeleton_id.to_hex());
    return true;
  }

  bool operator()(const fetch_manifest_request& r) {
    begin(operation::fetch_manifest, model_entries(r.model_version));
    write_model(st, r.model_name, r.model_version);
    return true;
  }
};

} // namespace

caf::expected<frame_list> encode_request(const request& req, const codec_limits& limits) {
  try {
    encode_state st{limits};
    request_writer writer{st, req.id};
    std::visit(writer, req.body);
    return finish(st);
  } catch (const std::bad_alloc&) {
    return make_error(ec::out_of_memory, "encoding a request: out of memory");
  } catch (const zmq::error_t& e) {
    return make_error(ec::out_of_memory, std::string{"encoding a request: "} + e.what());
  }
}

} // namespace tessera::transport
