// Encodes replies: {id, ok: true, op, ...fields} on success and
// {id, ok: false, error: {code, name, message}} on failure.
#include "model_fields.hpp"
#include "tensor_fields.hpp"

#include "tessera/transport/codec.hpp"

#include <new>

namespace tessera::transport {

using namespace detail;

namespace {

/// Entries the advice adds to the envelope.
uint32_t advice_entries(const reply_advice& advice) {
  return advice.uplink_share_bytes_per_s ? 1 : 0;
}

void write_advice(encode_state& st, const reply_advice& advice) {
  if (advice.uplink_share_bytes_per_s)
    st.field("uplink_share_bytes_per_s", *advice.uplink_share_bytes_per_s);
}

struct response_writer {
  encode_state& st;
  const std::string& id;
  const reply_advice& advice;

  void begin(operation op, size_t entries) {
    st.packer.pack_map(static_cast<uint32_t>(entries + 3 + advice_entries(advice)));
    st.field("id", id);
    st.field("ok", true);
    st.field("op", to_string(op));
    write_advice(st, advice);
  }

  bool operator()(const infer_response& r) {
    begin(operation::infer,
          model_entries(r.model_version) + 1 + !r.parameters.empty() + r.holdings.has_value());
    write_model(st, r.model_name, r.model_version);
    st.str("outputs");
    if (!write_tensors(st, "outputs", r.outputs))
      return false;
    if (!r.parameters.empty()) {
      st.str("parameters");
      write_parameters(st, r.parameters);
    }
    if (r.holdings)
      write_holdings(*r.holdings);
    return true;
  }

  // {free_bytes, digest, blob_ids?}: the ids as one bin of 16 bytes each (high
  // half first, little-endian), so a node holding many blobs meets no list limit.
  void write_holdings(const node_holdings& h) {
    st.str("holdings");
    st.packer.pack_map(2 + h.blob_ids.has_value());
    st.field("free_bytes", h.free_bytes);
    st.field("digest", h.digest);
    if (h.blob_ids)
      st.bin("blob_ids", pack_content_ids(*h.blob_ids));
  }

  bool operator()(const model_load_response& r) {
    begin(operation::model_load, model_entries(r.model_version) + 2);
    write_model(st, r.model_name, r.model_version);
    st.field("loaded_bytes", r.loaded_bytes);
    st.field("reused_bytes", r.reused_bytes);
    return true;
  }

  bool operator()(const model_unload_response& r) {
    begin(operation::model_unload, model_entries(r.model_version));
    write_model(st, r.model_name, r.model_version);
    return true;
  }

  bool operator()(const model_ready_response& r) {
    begin(operation::model_ready,
          model_entries(r.model_version) + 1 + !r.state.empty() + !r.reason.empty());
    write_model(st, r.model_name, r.model_version);
    st.field("ready", r.ready);
    if (!r.state.empty())
      st.field("state", r.state);
    if (!r.reason.empty())
      st.field("reason", r.reason);
    return true;
  }

  bool operator()(const fuse_response& r) {
    begin(operation::fuse, 3 + !r.not_defined_on.empty());
    st.field("group_name", r.group_name);
    st.str("models");
    write_strings(st, r.models);
    st.field("shared_blocks", r.shared_blocks);
    if (!r.not_defined_on.empty()) {
      st.str("not_defined_on");
      write_strings(st, r.not_defined_on);
    }
    return true;
  }

  bool operator()(const repository_index_response& r) {
    begin(operation::repository_index, 1);
    st.str("models");
    st.packer.pack_array(static_cast<uint32_t>(r.models.size()));
    for (const auto& m : r.models) {
      st.packer.pack_map(static_cast<uint32_t>(2 + m.version.has_value() + !m.reason.empty()));
      st.field("name", m.name);
      if (m.version)
        st.field("version", *m.version);
      st.field("state", m.state);
      if (!m.reason.empty())
        st.field("reason", m.reason);
    }
    return true;
  }

  bool operator()(const server_status_response& r) {
    begin(operation::server_status, 8 + r.host_memory.has_value());
    st.field("node_name", r.node_name);
    st.field("uptime_ms", r.uptime_ms);
    st.field("requests_in_flight", r.requests_in_flight);
    st.field("requests_served", r.requests_served);
    st.field("requests_queued", r.requests_queued);
    st.str("nodes");
    st.packer.pack_array(static_cast<uint32_t>(r.nodes.size()));
    for (const auto& n : r.nodes) {
      st.packer.pack_map(2);
      st.field("name", n.name);
      st.field("state", n.state);
    }
    st.str("devices");
    st.packer.pack_array(static_cast<uint32_t>(r.devices.size()));
    for (const auto& d : r.devices) {
      st.packer.pack_map(3);
      st.field("name", d.name);
      st.field("used_bytes", d.used_bytes);
      st.field("budget_bytes", d.budget_bytes);
    }
    st.str("executors");
    st.packer.pack_array(static_cast<uint32_t>(r.executors.size()));
    for (const auto& e : r.executors) {
      st.packer.pack_map(static_cast<uint32_t>(3 + !e.streamed.empty() + e.stream.has_value()));
      st.field("name", e.name);
      st.str("models");
      write_strings(st, e.models);
      st.field("served", e.served);
      if (!e.streamed.empty()) {
        st.str("streamed");
        write_strings(st, e.streamed);
      }
      if (e.stream) {
        st.str("stream");
        write_stream(*e.stream);
      }
    }
    if (r.host_memory) {
      const auto& h = *r.host_memory;
      st.str("host_memory");
      st.packer.pack_map(7);
      st.field("budget_bytes", h.budget_bytes);
      st.field("total_bytes", h.total_bytes);
      st.field("mapped_files_bytes", h.mapped_files_bytes);
      st.field("kept_device_bytes", h.kept_device_bytes);
      st.field("kept_blocks_bytes", h.kept_blocks_bytes);
      st.field("request_buffers_bytes", h.request_buffers_bytes);
      st.field("trimmed_bytes", h.trimmed_bytes);
    }
    return true;
  }

  void write_stream(const stream_entry& s) {
    st.packer.pack_map(16);
    st.field("runs", s.runs);
    st.field("failed_runs", s.failed_runs);
    st.field("blocks", s.blocks);
    st.field("blobs_read", s.blobs_read);
    st.field("bytes_read", s.bytes_read);
    st.field("copies", s.copies);
    st.field("bytes_copied", s.bytes_copied);
    st.field("waited_blocks", s.waited_blocks);
    st.field("wait_us", s.wait_us);
    st.field("compute_us", s.compute_us);
    st.field("forced_blocks", s.forced_blocks);
    st.field("trimmed_blocks", s.trimmed_blocks);
    st.field("peak_held_bytes", s.peak_held_bytes);
    st.field("budget_bytes", s.budget_bytes);
    st.field("last_share_bytes", s.last_share_bytes);
    st.field("last_window_blocks", s.last_window_blocks);
  }

  bool operator()(const health_response& r) {
    begin(operation::health, 2);
    st.field("live", r.live);
    st.field("ready", r.ready);
    return true;
  }

  bool operator()(const metadata_response& r) {
    begin(operation::metadata, 1 + !r.version.empty() + !r.extensions.empty() +
                                   !r.versions.empty() + !r.platform.empty() + !r.inputs.empty() +
                                   !r.outputs.empty());
    st.field("name", r.name);
    if (!r.version.empty())
      st.field("version", r.version);
    if (!r.extensions.empty()) {
      st.str("extensions");
      write_strings(st, r.extensions);
    }
    if (!r.versions.empty()) {
      st.str("versions");
      write_strings(st, r.versions);
    }
    if (!r.platform.empty())
      st.field("platform", r.platform);
    if (!r.inputs.empty()) {
      st.str("inputs");
      write_tensor_metadata(st, r.inputs);
    }
    if (!r.outputs.empty()) {
      st.str("outputs");
      write_tensor_metadata(st, r.outputs);
    }
    return true;
  }

  bool operator()(const fetch_blob_response& r) {
    begin(operation::fetch_blob, 1);
    st.str("blob");
    return write_tensor(st, "blob", r.blob);
  }

  bool operator()(const fetch_skeleton_response& r) {
    begin(operation::fetch_skeleton, 3);
    st.field("skeleton_id", r.skeleton_id.to_hex());
    st.field("kind", r.kind);
    st.bin("data", r.data);
    return true;
  }

  bool operator()(const fetch_manifest_response& r) {
    begin(operation::fetch_manifest, model_entries(r.model_version) + 1);
    write_model(st, r.model_name, r.model_version);
    st.bin("manifest", r.manifest);
    return true;
  }
};

/// The human part of an error: its context without the leading code name.
std::string message_of(const caf::error& err) {
  auto text = describe(err);
  std::string head = to_string(code_of(err));
  if (text == head)
    return {};
  if (text.rfind(head + ": ", 0) == 0)
    return text.substr(head.size() + 2);
  return text;
}

} // namespace

caf::expected<frame_list> encode_response(const std::string& id, const response_body& body,
                                          const codec_limits& limits, const reply_advice& advice) {
  try {
    encode_state st{limits};
    response_writer writer{st, id, advice};
    std::visit(writer, body);
    return finish(st);
  } catch (const std::bad_alloc&) {
    return make_error(ec::out_of_memory, "encoding a reply: out of memory");
  } catch (const zmq::error_t& e) {
    return make_error(ec::out_of_memory, std::string{"encoding a reply: "} + e.what());
  }
}

frame_list encode_error_response(const std::string& id, const caf::error& err,
                                 const reply_advice& advice) {
  auto code = err ? code_of(err) : ec::backend_error;
  codec_limits limits;
  encode_state st{limits};
  st.packer.pack_map(3 + advice_entries(advice));
  st.field("id", id);
  st.field("ok", false);
  write_advice(st, advice);
  st.str("error");
  st.packer.pack_map(3);
  st.field("code", static_cast<uint64_t>(code));
  st.field("name", to_string(code));
  st.field("message", err ? message_of(err) : std::string{"error without a code"});
  return std::move(*finish(st)); // a map of three scalars is far below every limit
}

} // namespace tessera::transport
