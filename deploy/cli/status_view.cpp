#include "status_view.hpp"

#include "cli_context.hpp"
#include "tessera/core/error.hpp"
#include "tessera/cuda/cuda_devices.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace tessera::cli {

namespace {

void row(const char* name, uint64_t bytes, const char* note = "") {
  std::printf("  %-22s %12llu bytes  %10s  %s\n", name, static_cast<unsigned long long>(bytes),
              format_mib(bytes).c_str(), note);
}

/// The driver's view of each GPU (cudaMemGetInfo), beside Tessera's own count
/// of the device tier; without a GPU, the reason (docs/cuda.md).
void print_gpus() {
  auto inv = cuda::probe_cuda();
  if (inv.gpus.empty()) {
    std::printf("gpu: none (%s)\n", inv.reason.c_str());
    return;
  }
  for (const auto& g : inv.gpus) {
    auto d = cuda::read_driver_memory(g.index);
    if (d)
      std::printf("gpu cuda:%d %s: driver free %s of %s%s\n", g.index, g.name.c_str(),
                  format_mib(d->free_bytes).c_str(), format_mib(d->total_bytes).c_str(),
                  cuda::unified_memory(g) ? " (unified memory: blobs used in place)" : "");
    else
      std::printf("gpu cuda:%d %s: %s\n", g.index, g.name.c_str(), describe(d.error()).c_str());
  }
}

nlohmann::json gpus_json() {
  auto inv = cuda::probe_cuda();
  auto out = nlohmann::json::array();
  for (const auto& g : inv.gpus) {
    nlohmann::json one = {{"device", "cuda:" + std::to_string(g.index)}, {"name", g.name},
                          {"unified_memory", cuda::unified_memory(g)}};
    if (auto d = cuda::read_driver_memory(g.index))
      one["driver"] = {{"free_bytes", d->free_bytes}, {"total_bytes", d->total_bytes}};
    out.push_back(one);
  }
  return out;
}

} // namespace

void print_tiers(const residency::residency_stats& s,
                 const std::optional<residency::store_tier_stats>& store) {
  if (store) {
    std::printf("store tier: %llu blobs\n", static_cast<unsigned long long>(store->blobs));
    row("data", store->bytes);
  }
  const auto& h = s.host;
  std::printf("host tier:\n");
  row("staging pool", h.staging_bytes, h.staging_locked ? "(page-locked)" : "(not page-locked)");
  row("  lent to loads", h.staging_in_use_bytes);
  row("mapped, used in place", h.aliased_bytes, "(the same bytes as the device tier)");
  auto mapped_note = "(" + std::to_string(h.store_mappings) +
                     " blob files' page cache, for copy-mode reads; " +
                     std::to_string(h.store_mappings_watched) + " watched for changes)";
  row("store files kept mapped", h.store_mapped_bytes, mapped_note.c_str());
  const auto& d = s.device;
  std::printf("device tier: %llu blobs resident, %llu loading, pressure %s\n",
              static_cast<unsigned long long>(d.resident_blobs),
              static_cast<unsigned long long>(d.loading_blobs), to_string(s.pressure));
  row("budget", d.budget_bytes);
  row("used", d.used_bytes, "= referenced + cached + detached");
  row("  referenced", d.referenced_bytes, "(held by loaded models)");
  row("    pinned", d.pinned_bytes, "(running right now)");
  row("  cached", d.cached_bytes, "(no model holds them; evictable)");
  row("  detached", d.detached_bytes, "(freed, still viewed elsewhere)");
  row("reserved", d.reserved_bytes, "(admitted loads in flight)");
  row("allocator", d.allocator_bytes, "(the device allocator's own count)");
  row("allocator kept", d.allocator_kept_bytes, "(freed, kept for the next loads)");
  print_gpus();
  const auto& c = s.counters;
  std::printf("loads: %llu granted, %llu refused, %llu rolled back, %llu unloads\n",
              static_cast<unsigned long long>(c.loads), static_cast<unsigned long long>(c.refused_loads),
              static_cast<unsigned long long>(c.failed_loads), static_cast<unsigned long long>(c.unloads));
  std::printf("blobs: %llu read (%s), %llu found resident, %llu joined in flight, %llu prefetched, "
              "%llu evicted (%s), %llu files read ahead from the disk\n",
              static_cast<unsigned long long>(c.blobs_read), format_mib(c.bytes_read).c_str(),
              static_cast<unsigned long long>(c.blob_hits),
              static_cast<unsigned long long>(c.blob_joins),
              static_cast<unsigned long long>(c.prefetched_blobs),
              static_cast<unsigned long long>(c.evictions), format_mib(c.bytes_evicted).c_str(),
              static_cast<unsigned long long>(c.readahead_blobs));
  std::printf("copies after reads (through staging): %llu (%s)\n",
              static_cast<unsigned long long>(c.copies), format_mib(c.bytes_copied).c_str());
  std::printf("resident models:");
  for (const auto& m : s.resident_models)
    std::printf(" %s", m.c_str());
  std::printf("%s\n", s.resident_models.empty() ? " none" : "");
}

void print_blobs(const std::vector<residency::blob_residency>& blobs) {
  std::printf("%-14s %-24s %12s %5s %5s %5s  %s\n", "blob", "type", "bytes", "refs", "pins", "uses",
              "held by");
  for (const auto& b : blobs) {
    std::string holders;
    for (const auto& h : b.holders)
      holders += (holders.empty() ? "" : ",") + h;
    std::printf("%-14s %-24s %12llu %5u %5u %5u  %s%s\n", b.id.short_hex().c_str(),
                to_string(b.spec).c_str(), static_cast<unsigned long long>(b.bytes), b.refs, b.pins,
                b.uses, b.loading ? "(loading) " : "", holders.c_str());
  }
}

nlohmann::json tiers_json(const residency::residency_stats& s,
                          const std::optional<residency::store_tier_stats>& store) {
  const auto& d = s.device;
  const auto& c = s.counters;
  nlohmann::json out = {
    {"host", {{"staging_bytes", s.host.staging_bytes},
              {"staging_in_use_bytes", s.host.staging_in_use_bytes},
              {"aliased_bytes", s.host.aliased_bytes},
              {"store_mapped_bytes", s.host.store_mapped_bytes},
              {"store_mappings", s.host.store_mappings},
              {"store_mappings_watched", s.host.store_mappings_watched}}},
    {"device", {{"budget_bytes", d.budget_bytes}, {"used_bytes", d.used_bytes},
                {"referenced_bytes", d.referenced_bytes}, {"pinned_bytes", d.pinned_bytes},
                {"cached_bytes", d.cached_bytes}, {"detached_bytes", d.detached_bytes},
                {"reserved_bytes", d.reserved_bytes}, {"allocator_bytes", d.allocator_bytes},
                {"allocator_kept_bytes", d.allocator_kept_bytes},
                {"resident_blobs", d.resident_blobs}, {"pressure", to_string(s.pressure)}}},
    {"counters", {{"loads", c.loads}, {"refused_loads", c.refused_loads},
                  {"failed_loads", c.failed_loads}, {"unloads", c.unloads},
                  {"blobs_read", c.blobs_read}, {"bytes_read", c.bytes_read},
                  {"blob_hits", c.blob_hits}, {"blob_joins", c.blob_joins},
                  {"evictions", c.evictions}, {"bytes_evicted", c.bytes_evicted},
                  {"copies", c.copies}, {"bytes_copied", c.bytes_copied},
                  {"readahead_blobs", c.readahead_blobs}}},
    {"resident_models", s.resident_models},
  };
  if (store)
    out["store"] = {{"blobs", store->blobs}, {"bytes", store->bytes}};
  out["gpus"] = gpus_json();
  return out;
}

} // namespace tessera::cli
