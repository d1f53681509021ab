#include "loader_parts.hpp"

#include "tessera/core/error.hpp"
#include "tessera/core/manifest_json.hpp"
#include "tessera/core/model_graph.hpp"
#include "tessera/store/group_store.hpp"

#include <algorithm>
#include <set>

namespace tessera::actors::detail {

namespace {

using model_ref_pair = std::pair<std::string, uint32_t>;

void add_members(const group_definition& g, std::vector<model_ref_pair>& out) {
  for (const auto& ref : g.models) {
    model_ref_pair member;
    if (split_value_name(ref, member.first, member.second) &&
        std::find(out.begin(), out.end(), member) == out.end())
      out.push_back(std::move(member));
  }
}

} // namespace

std::string model_part::label() const {
  switch (kind) {
  case part_kind::blob:
    return "blob " + id.to_hex();
  case part_kind::damaged_blob:
    return "damaged blob " + id.to_hex();
  case part_kind::skeleton:
    return "skeleton " + id.to_hex();
  case part_kind::manifest:
    break;
  }
  return "manifest " + model + (version == 0 ? "" : ":" + std::to_string(version));
}

transport::request_body model_part::request() const {
  switch (kind) {
  case part_kind::blob:
  case part_kind::damaged_blob:
    return transport::fetch_blob_request{id};
  case part_kind::skeleton:
    return transport::fetch_skeleton_request{id};
  case part_kind::manifest:
    break;
  }
  return transport::fetch_manifest_request{model, version == 0 ? std::nullopt
                                                               : std::optional<int64_t>{version}};
}

ec model_part::missing_code() const {
  switch (kind) {
  case part_kind::blob:
  case part_kind::damaged_blob:
    return ec::unknown_blob;
  case part_kind::skeleton:
    return ec::unknown_skeleton;
  case part_kind::manifest:
    break;
  }
  return ec::unknown_model;
}

std::vector<model_ref_pair> models_to_complete(const store::block_store& store,
                                               const std::string& name, uint32_t version) {
  std::vector<model_ref_pair> out;
  store::group_store groups{store.root()};
  auto local = store.manifests().get(name, version);
  if (!local) {
    if (auto g = groups.get(name)) {
      add_members(*g, out);
      return out;
    }
    out.emplace_back(name, version); // to fetch whole
    return out;
  }
  out.emplace_back(name, local->version);
  auto ref = model_ref(*local);
  for (const auto& g : groups.list())
    if (std::find(g.models.begin(), g.models.end(), ref) != g.models.end())
      add_members(g, out);
  return out;
}

std::vector<model_part> missing_parts(const store::block_store& store, const model_manifest& m) {
  std::vector<model_part> out;
  std::set<content_id> seen;
  auto want = [&](part_kind kind, const content_id& id, bool present) {
    if (!present && seen.insert(id).second)
      out.push_back(model_part{kind, id, {}, 0});
  };
  for (const auto& node : m.nodes) {
    want(part_kind::skeleton, node.skeleton, store.skeletons().contains(node.skeleton));
    for (const auto& p : node.params)
      want(part_kind::blob, p.blob, store.blobs().contains(p.blob));
  }
  return out;
}

caf::expected<transport::fetch_blob_response> serve_blob(const store::block_store& store,
                                                         const transport::fetch_blob_request& req) {
  auto t = store.blobs().read(req.blob_id, store::read_method::map, false);
  if (!t)
    return t.error();
  return transport::fetch_blob_response{{req.blob_id.to_hex(), std::move(*t)}};
}

caf::expected<transport::fetch_skeleton_response>
serve_skeleton(const store::block_store& store, const transport::fetch_skeleton_request& req) {
  auto s = store.skeletons().get(req.skeleton_id);
  if (!s)
    return s.error();
  return transport::fetch_skeleton_response{s->id, store::to_string(s->kind), std::move(s->bytes)};
}

caf::expected<transport::fetch_manifest_response>
serve_manifest(const store::block_store& store, const transport::fetch_manifest_request& req) {
  if (req.model_version && (*req.model_version < 1 || *req.model_version > UINT32_MAX))
    return make_error(ec::invalid_argument,
                      "model_version " + std::to_string(*req.model_version) + " is out of range");
  auto m =
      store.manifests().get(req.model_name, static_cast<uint32_t>(req.model_version.value_or(0)));
  if (!m)
    return m.error();
  return transport::fetch_manifest_response{m->name, m->version, to_json_text(*m)};
}

caf::expected<uint64_t> accept_blob(const store::block_store& store, const content_id& id,
                                    const transport::fetch_blob_response& reply, bool restore) {
  const auto& t = reply.blob.tensor;
  auto where = "blob " + id.to_hex();
  if (reply.blob.name != id.to_hex())
    return make_error(ec::corrupt_blob,
                      where + ": the peer sent blob " + reply.blob.name + " instead");
  auto actual = blob_id_of(t.spec, t.data, t.bytes);
  if (actual != id)
    return make_error(ec::corrupt_blob,
                      where + ": the bytes the peer sent hash to " + actual.to_hex());
  auto stored = restore ? store.blobs().restore(t.spec, t.data) : store.blobs().put(t.spec, t.data);
  if (!stored)
    return wrap(stored.error(), where);
  return t.bytes;
}

caf::error accept_skeleton(const store::block_store& store, const content_id& id,
                           const transport::fetch_skeleton_response& reply) {
  auto where = "skeleton " + id.to_hex();
  auto kind = reply.kind == "module" ? store::skeleton_kind::module : store::skeleton_kind::script;
  if (reply.skeleton_id != id || skeleton_id_of(reply.kind, reply.data) != id)
    return make_error(ec::corrupt_blob, where + ": the bytes the peer sent do not hash to it");
  auto stored = store.skeletons().put(kind, reply.data);
  return stored ? caf::error{} : wrap(stored.error(), where);
}

caf::expected<model_manifest> accept_manifest(const model_part& asked,
                                              const transport::fetch_manifest_response& reply) {
  auto m = parse_manifest(reply.manifest);
  if (!m)
    return wrap(m.error(), asked.label() + " from a peer");
  if (m->name != asked.model || (asked.version != 0 && m->version != asked.version))
    return make_error(ec::bad_manifest, asked.label() + ": the peer sent " + model_ref(*m));
  if (auto g = validate_manifest(*m); !g)
    return wrap(g.error(), asked.label() + " from a peer");
  return m;
}

} // namespace tessera::actors::detail
