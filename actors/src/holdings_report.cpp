#include "holdings_report.hpp"

#include <cstring>

namespace tessera::actors {

namespace {

uint64_t mix(uint64_t x) { // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

} // namespace

uint64_t holdings_digest(const std::vector<content_id>& ids) {
  // A sum of mixed ids does not depend on their order, so the list needs no sort.
  uint64_t sum = 0;
  for (const auto& id : ids)
    sum += mix(id.hi ^ mix(id.lo));
  return sum;
}

std::optional<transport::node_holdings>
holdings_for(const transport::parameter_map& params,
             const residency::residency_manager& residency) {
  auto asked = params.find(holdings_parameter);
  if (asked == params.end() || !std::holds_alternative<int64_t>(asked->second))
    return std::nullopt;
  uint64_t since = 0;
  auto known = std::get<int64_t>(asked->second);
  std::memcpy(&since, &known, sizeof since); // the digest travels as its bits
  transport::node_holdings out;
  auto device = residency.stats().device;
  auto used = device.used_bytes + device.reserved_bytes;
  out.free_bytes = device.budget_bytes > used ? device.budget_bytes - used : 0;
  std::vector<content_id> ids;
  for (const auto& b : residency.blobs())
    if (!b.loading)
      ids.push_back(b.id);
  out.digest = holdings_digest(ids);
  if (out.digest != since)
    out.blob_ids = std::move(ids);
  return out;
}

} // namespace tessera::actors
