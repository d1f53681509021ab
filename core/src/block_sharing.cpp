#include "tessera/core/block_sharing.hpp"

#include <set>
#include <utility>
#include <vector>

namespace tessera {

namespace {

std::pair<content_id, std::vector<content_id>> block_key(const node_spec& n) {
  std::vector<content_id> blobs;
  for (const auto& p : n.params)
    blobs.push_back(p.blob);
  return {n.skeleton, std::move(blobs)};
}

} // namespace

uint64_t node_param_bytes(const node_spec& n) {
  uint64_t bytes = 0;
  for (const auto& p : n.params)
    bytes += p.spec.bytes();
  return bytes;
}

uint64_t shared_block_bytes(const model_manifest& a, const model_manifest& b) {
  std::set<std::pair<content_id, std::vector<content_id>>> in_b;
  for (const auto& n : b.nodes)
    in_b.insert(block_key(n));
  uint64_t shared = 0;
  for (const auto& n : a.nodes)
    if (in_b.count(block_key(n)) > 0)
      shared += node_param_bytes(n);
  return shared;
}

} // namespace tessera
