// The memory manager of one node's device: it brings blobs from the store into
// the device tier (in place or by copy), shares each resident blob among every
// model that binds it, counts every byte, evicts unreferenced blobs by policy
// when a load needs room, and reports memory pressure at watermarks. The loader
// actor owns it; executors hold leases and pin them while they run.
#pragma once

#include "tessera/backend/device_memory.hpp"
#include "tessera/core/eviction.hpp"
#include "tessera/core/manifest.hpp"
#include "tessera/core/memory_pressure.hpp"
#include "tessera/core/node_config.hpp"
#include "tessera/cuda/copy_engine.hpp"
#include "tessera/cuda/host_allocator.hpp"
#include "tessera/residency/lease.hpp"
#include "tessera/residency/residency_stats.hpp"
#include "tessera/store/block_store.hpp"

#include <caf/expected.hpp>

#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace tessera::residency {

struct residency_options {
  uint64_t device_budget_bytes = 2ull << 30;
  load_mode mode = load_mode::in_place;
  bool verify = true;
  unsigned io_threads = 2;
  /// Bytes of a load's next blob files the kernel is asked to read ahead once
  /// a read of the load has come from the disk (decision 41); 0: none.
  uint64_t readahead_bytes = 16ull << 20;
  size_t staging_buffer_bytes = 1u << 20;
  /// Staging buffers each copy through staging cycles through: while one
  /// buffer's copy is in flight, the next one is filled from the file.
  size_t staging_depth = 2;
  /// Copy mode: go through staging even where the device can read host memory
  /// (exercises and measures the discrete-GPU path on a CPU).
  bool force_staging = false;
  /// Copy mode through staging: makes one copy engine per I/O thread. Unset,
  /// copies go through the device's copy_from_host() and synchronize(); a GPU
  /// passes cuda::make_cuda_copy_engine(N), so chunks go up asynchronously on
  /// copy streams while the next chunk is read.
  std::function<caf::expected<std::unique_ptr<cuda::copy_engine>>()> copy_engines;
  /// Where staging buffers come from. Unset: the heap, mlocked where the limit
  /// allows; a GPU passes cuda::make_pinned_host_allocator().
  std::function<caf::expected<std::unique_ptr<cuda::host_allocator>>()> staging_allocator;
  eviction_policy policy = eviction_policy::cost_aware;
  reload_cost_model reload_cost;
  watermarks marks;
  /// Keep an unloaded model's blobs cached (evictable) rather than free them.
  bool keep_unloaded = true;

  /// The options a node's configuration asks for.
  static residency_options from(const node_config& cfg);
};

/// A model's distinct blobs with their sizes.
std::vector<blob_ref> blob_refs_of(const model_manifest& m);

/// Blobs and data bytes in the store (reads every header).
store_tier_stats store_tier_of(const store::block_store& store);

class residency_manager {
public:
  using pressure_callback = std::function<void(pressure_level level, uint64_t used_bytes,
                                               uint64_t budget_bytes)>;

  /// `device` must outlive the manager and every lease it grants.
  residency_manager(const store::block_store& store, backend::device_memory& device,
                    residency_options opts);

  /// Waits for the loads in flight, then stops the I/O threads. Leases may
  /// outlive the manager.
  ~residency_manager();

  residency_manager(const residency_manager&) = delete;
  residency_manager& operator=(const residency_manager&) = delete;

  /// Brings every blob to the device tier and grants a lease on them. Blobs
  /// already resident are shared, blobs in flight are waited for, and missing
  /// ones are read on the I/O threads. A load larger than the whole budget, or
  /// one that cannot fit without evicting blobs that other models hold, is
  /// refused with ec::out_of_memory. When a blob fails, the load rolls back:
  /// nothing it brought in stays resident.
  caf::expected<lease_ptr> load(const std::string& owner, const std::vector<blob_ref>& blobs);

  /// Queues blobs to be read at low priority, within the free budget below the
  /// low watermark (prefetch never evicts). Returns how many were queued.
  size_t prefetch(const std::vector<blob_ref>& blobs);

  /// The bytes of `blobs` that are not resident now (missing, or still being
  /// read): what a load of them would wait for.
  uint64_t missing_bytes(const std::vector<blob_ref>& blobs) const;

  /// Re-hashes resident blobs, least recently scrubbed first, up to
  /// `max_bytes` (at least one blob), and returns the bytes hashed. A blob
  /// that no longer matches its id is refused (ec::corrupt_blob) to every
  /// pin until it is read again good. The node calls it at a bounded rate
  /// (scrub_bytes_per_s); stats().scrub has its progress.
  uint64_t scrub(uint64_t max_bytes);

  /// Drains the lease's pins, then releases its blobs: they stay cached when
  /// `keep_unloaded` is set and are freed at once otherwise (or when `free_now`).
  void unload(const lease_ptr& l, bool free_now = false);

  /// Frees cached blobs (resident, held by no model), the eviction policy's
  /// victims first, until `at_least` bytes are freed (by default: every one);
  /// returns the bytes freed.
  uint64_t drop_cached(uint64_t at_least = UINT64_MAX);

  residency_stats stats() const;
  std::vector<blob_residency> blobs() const;
  pressure_level pressure() const;

  /// Called (on the thread that changed usage, outside any lock) when the
  /// pressure level changes.
  void on_pressure(pressure_callback callback);

  /// Told the id of each blob found corrupt: a read that did not verify, a
  /// re-hash after its file changed, or the scrub. It runs under the
  /// manager's lock, so it must only hand the id on (a node asks its loader
  /// to fetch a good copy from a peer and restore the file, decision 43).
  using corrupt_callback = std::function<void(const content_id& id)>;
  void on_corrupt(corrupt_callback callback);

  /// How many known models bind each blob; the cost-aware policy keeps widely
  /// shared blobs longer.
  void set_sharing_degrees(std::unordered_map<content_id, uint32_t> degrees);

  /// Counts, for every stored model, the blobs it binds.
  void learn_sharing_from(const std::vector<model_manifest>& catalogue);

  void reset_counters();

  const residency_options& options() const;

private:
  std::shared_ptr<residency_core> core_;
};

} // namespace tessera::residency
