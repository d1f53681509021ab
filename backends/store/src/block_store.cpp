#include "tessera/store/block_store.hpp"

#include "tessera/core/manifest_json.hpp"

#include "tessera/core/error.hpp"
#include "tessera/core/model_graph.hpp"

#include <filesystem>
#include <unordered_map>

namespace tessera::store {

namespace fs = std::filesystem;

block_store::block_store(std::string root)
  : root_(root), blobs_(root), skeletons_(root), manifests_(root) {
  // nop
}

caf::expected<block_store> block_store::open(const std::string& root, bool create) {
  std::error_code ec;
  if (!create && !fs::is_directory(root + "/blobs", ec))
    return make_error(ec::io_error, "no block store at " + root
                                      + " (run `tessera zoo` or `tessera import` first)");
  for (const char* sub : {"blobs", "skeletons", "models", "tmp"}) {
    fs::create_directories(root + "/" + sub, ec);
    if (ec)
      return make_error(ec::io_error, "cannot create " + root + "/" + sub + ": " + ec.message());
  }
  remove_stale_temporaries(root + "/tmp");
  return block_store{root};
}

caf::error block_store::check_manifest(const model_manifest& m) const {
  if (auto err = check_model_name(m.name))
    return make_error(ec::bad_manifest, describe(err));
  auto graph = validate_manifest(m);
  if (!graph)
    return graph.error();
  auto who = "model \"" + m.name + "\": ";
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const auto& n = m.nodes[i];
    auto path = "nodes[" + std::to_string(i) + "]";
    if (!skeletons_.contains(n.skeleton))
      return make_error(ec::unknown_skeleton, who + path + ".skeleton: skeleton "
                                                + n.skeleton.to_hex() + " is not in the store");
    for (size_t j = 0; j < n.params.size(); ++j) {
      const auto& p = n.params[j];
      auto ppath = path + ".params[" + std::to_string(j) + "]";
      auto h = blobs_.header(p.blob);
      if (!h)
        return wrap(h.error(), who + ppath);
      if (h->spec.type != p.spec.type)
        return make_error(ec::dtype_mismatch,
                          who + ppath + ": declared " + to_string(p.spec.type) + " but blob "
                            + p.blob.short_hex() + " holds " + to_string(h->spec.type));
      if (h->spec.shape != p.spec.shape)
        return make_error(ec::shape_mismatch,
                          who + ppath + ": declared " + shape_to_string(p.spec.shape)
                            + " but blob " + p.blob.short_hex() + " holds "
                            + shape_to_string(h->spec.shape));
    }
  }
  return {};
}

caf::error block_store::add_model(const model_manifest& m) const {
  if (auto err = check_manifest(m))
    return err;
  // A version is never changed in place: nodes, groups and peers hold it by
  // its name and number. Storing the same manifest again is a no-op.
  if (auto held = manifests_.get(m.name, m.version); held && to_json_text(*held) != to_json_text(m))
    return make_error(ec::already_exists,
                      model_ref(m) +
                          " is stored already, with other contents; give another "
                          "version, or remove it first (tessera models rm " +
                          model_ref(m) + ")");
  return manifests_.put(m);
}

verify_report block_store::verify_all(const std::function<void(size_t, size_t)>& progress) const {
  verify_report report;
  auto ids = blobs_.list();
  std::unordered_map<content_id, std::vector<std::string>> users;
  for (const auto& m : manifests_.list_latest())
    for (const auto& [id, bytes] : unique_blobs(m))
      users[id].push_back(model_ref(m));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (auto size = blobs_.file_bytes(ids[i]))
      report.bytes_checked += *size;
    if (auto err = blobs_.verify(ids[i]))
      report.corrupt.push_back({ids[i], describe(err), users[ids[i]]});
    ++report.blobs_checked;
    if (progress)
      progress(i + 1, ids.size());
  }
  return report;
}

std::vector<std::string> block_store::models_using(const content_id& blob) const {
  std::vector<std::string> out;
  for (const auto& m : manifests_.list_latest())
    for (const auto& [id, bytes] : unique_blobs(m))
      if (id == blob) {
        out.push_back(model_ref(m));
        break;
      }
  return out;
}

} // namespace tessera::store
