#include "tessera/residency/residency_manager.hpp"

#include "residency_core.hpp"
#include "tessera/cuda/cuda_devices.hpp"

namespace tessera::residency {

residency_options residency_options::from(const node_config& cfg) {
  residency_options out;
  out.device_budget_bytes = cfg.device_budget_bytes;
  out.mode = cfg.mode;
  out.verify = cfg.verify_blobs;
  out.io_threads = cfg.io_threads;
  out.readahead_bytes = cfg.readahead_bytes;
  out.policy = cfg.eviction;
  out.marks = cfg.marks;
  out.keep_unloaded = cfg.keep_unloaded_blocks;
  // On GPU N, copies through staging go up on a copy stream of that GPU from
  // page-locked buffers. Made only when a manager first copies through
  // staging (not on unified memory, which is read into directly).
  if (auto gpu = cuda::cuda_device_index(cfg.device)) {
    int index = *gpu;
    out.copy_engines = [index] { return cuda::make_cuda_copy_engine(index); };
    out.staging_allocator = [] { return cuda::make_pinned_host_allocator(); };
  }
  return out;
}

std::vector<blob_ref> blob_refs_of(const model_manifest& m) {
  std::vector<blob_ref> out;
  for (const auto& [id, bytes] : unique_blobs(m))
    out.push_back({id, bytes});
  return out;
}

store_tier_stats store_tier_of(const store::block_store& store) {
  store_tier_stats out;
  for (const auto& id : store.blobs().list())
    if (auto h = store.blobs().header(id)) {
      ++out.blobs;
      out.bytes += h->data_bytes;
    }
  return out;
}

residency_manager::residency_manager(const store::block_store& store,
                                     backend::device_memory& device, residency_options opts)
  : core_(std::make_shared<residency_core>(store, device, std::move(opts))) {
  // nop
}

residency_manager::~residency_manager() {
  core_->stop_io();
}

caf::expected<lease_ptr> residency_manager::load(const std::string& owner,
                                                 const std::vector<blob_ref>& blobs) {
  return core_->load(owner, blobs);
}

size_t residency_manager::prefetch(const std::vector<blob_ref>& blobs) {
  return core_->prefetch(blobs);
}

void residency_manager::unload(const lease_ptr& l, bool free_now) {
  if (l != nullptr)
    core_->unload(*l, free_now);
}

uint64_t residency_manager::drop_cached(uint64_t at_least) {
  return core_->drop_cached(at_least);
}

residency_stats residency_manager::stats() const {
  return core_->stats();
}

uint64_t residency_manager::scrub(uint64_t max_bytes) {
  return core_->scrub(max_bytes);
}

uint64_t residency_manager::missing_bytes(const std::vector<blob_ref>& blobs) const {
  return core_->missing_bytes(blobs);
}

std::vector<blob_residency> residency_manager::blobs() const {
  return core_->blobs();
}

pressure_level residency_manager::pressure() const {
  return core_->pressure();
}

void residency_manager::on_pressure(pressure_callback callback) {
  core_->on_pressure(std::move(callback));
}

void residency_manager::on_corrupt(corrupt_callback callback) {
  core_->on_corrupt(std::move(callback));
}

void residency_manager::set_sharing_degrees(std::unordered_map<content_id, uint32_t> degrees) {
  core_->set_sharing_degrees(std::move(degrees));
}

void residency_manager::learn_sharing_from(const std::vector<model_manifest>& catalogue) {
  std::unordered_map<content_id, uint32_t> degrees;
  for (const auto& m : catalogue)
    for (const auto& [id, bytes] : unique_blobs(m))
      ++degrees[id];
  core_->set_sharing_degrees(std::move(degrees));
}

void residency_manager::reset_counters() {
  core_->reset_counters();
}

const residency_options& residency_manager::options() const {
  return core_->options();
}

} // namespace tessera::residency
