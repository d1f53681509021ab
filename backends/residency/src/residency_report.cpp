// The reporting side of the core: tier totals, the per-blob listing and pressure.
#include "residency_core.hpp"

#include <algorithm>

namespace tessera::residency {

residency_stats residency_core::stats() const {
  residency_stats out;
  std::lock_guard<std::mutex> guard{mtx_};
  auto& d = out.device;
  d.budget_bytes = opts_.device_budget_bytes;
  d.used_bytes = used_->load();
  d.reserved_bytes = reserved_;
  for (const auto& [id, e] : table_) {
    if (!e.resident) {
      ++d.loading_blobs;
      continue;
    }
    ++d.resident_blobs;
    (e.refs > 0 ? d.referenced_bytes : d.cached_bytes) += e.bytes;
    if (e.pins > 0)
      d.pinned_bytes += e.bytes;
  }
  auto listed = d.referenced_bytes + d.cached_bytes;
  d.detached_bytes = d.used_bytes > listed ? d.used_bytes - listed : 0;
  d.allocator_bytes = device_.allocated_bytes();
  d.allocator_kept_bytes = device_.cached_bytes();
  if (staging_) {
    auto f = staging_->figures();
    out.host.staging_bytes = staging_->total_bytes();
    out.host.staging_in_use_bytes = static_cast<uint64_t>(f.lent) * f.buffer_bytes;
    out.host.staging_locked = f.page_locked;
  }
  if (opts_.mode == load_mode::in_place)
    out.host.aliased_bytes = d.used_bytes;
  auto maps = store_.blobs().mappings().counts();
  out.host.store_mapped_bytes = maps.mapped_bytes;
  out.host.store_mappings = maps.mappings;
  out.host.store_mappings_watched = maps.watched;
  out.counters = counters_;
  out.scrub = scrub_;
  out.pressure = pressure_of(d.used_bytes + d.reserved_bytes, d.budget_bytes, opts_.marks);
  for (const auto* l : leases_)
    out.resident_models.push_back(l->owner());
  std::sort(out.resident_models.begin(), out.resident_models.end());
  return out;
}

uint64_t residency_core::missing_bytes(const std::vector<blob_ref>& blobs) const {
  std::lock_guard<std::mutex> guard{mtx_};
  uint64_t missing = 0;
  for (const auto& b : blobs)
    if (auto i = table_.find(b.id); i == table_.end() || !i->second.resident)
      missing += b.bytes;
  return missing;
}

std::vector<blob_residency> residency_core::blobs() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::unordered_map<content_id, std::vector<std::string>> holders;
  for (const auto* l : leases_)
    for (const auto& b : l->blobs())
      holders[b.id].push_back(l->owner());
  std::vector<blob_residency> out;
  for (const auto& [id, e] : table_) {
    blob_residency r;
    r.id = id;
    r.spec = e.spec;
    r.bytes = e.bytes;
    r.loading = !e.resident;
    r.refs = e.refs;
    r.pins = e.pins;
    r.uses = e.uses;
    if (auto h = holders.find(id); h != holders.end())
      r.holders = std::move(h->second);
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

pressure_level residency_core::pressure() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return pressure_of(used_->load() + reserved_, opts_.device_budget_bytes, opts_.marks);
}

void residency_core::on_pressure(residency_manager::pressure_callback cb) {
  std::lock_guard<std::mutex> guard{pressure_mtx_};
  callbacks_.push_back(std::move(cb));
}

void residency_core::publish_pressure() {
  uint64_t used = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    used = used_->load() + reserved_;
  }
  auto level = pressure_of(used, opts_.device_budget_bytes, opts_.marks);
  std::vector<residency_manager::pressure_callback> calls;
  {
    std::lock_guard<std::mutex> guard{pressure_mtx_};
    if (level == last_level_)
      return;
    last_level_ = level;
    calls = callbacks_;
  }
  for (const auto& cb : calls)
    cb(level, used, opts_.device_budget_bytes);
}

void residency_core::set_sharing_degrees(std::unordered_map<content_id, uint32_t> degrees) {
  std::lock_guard<std::mutex> guard{mtx_};
  sharing_ = std::move(degrees);
}

void residency_core::reset_counters() {
  std::lock_guard<std::mutex> guard{mtx_};
  counters_ = {};
}

} // namespace tessera::residency
