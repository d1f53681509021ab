#include "tessera/core/manifest.hpp"

#include <unordered_map>
#include <unordered_set>

namespace tessera {

std::string model_ref(const model_manifest& m) {
  return m.name + ":" + std::to_string(m.version);
}

content_id block_id(const node_spec& node) {
  std::vector<content_id> ids;
  ids.reserve(node.params.size());
  for (const auto& p : node.params)
    ids.push_back(p.blob);
  return block_id_of(ids);
}

std::vector<std::pair<content_id, size_t>> unique_blobs(const model_manifest& m) {
  std::vector<std::pair<content_id, size_t>> out;
  std::unordered_set<content_id> seen;
  for (const auto& node : m.nodes)
    for (const auto& p : node.params)
      if (seen.insert(p.blob).second)
        out.emplace_back(p.blob, p.spec.bytes());
  return out;
}

size_t parameter_bytes(const model_manifest& m) {
  size_t total = 0;
  for (const auto& [id, bytes] : unique_blobs(m))
    total += bytes;
  return total;
}

size_t shared_bytes(const model_manifest& a, const model_manifest& b) {
  std::unordered_set<content_id> in_a;
  for (const auto& [id, bytes] : unique_blobs(a))
    in_a.insert(id);
  size_t total = 0;
  for (const auto& [id, bytes] : unique_blobs(b))
    if (in_a.count(id) > 0)
      total += bytes;
  return total;
}

} // namespace tessera
