// What the residency manager reports: byte-exact totals per tier, the state of
// each resident blob, and counters of what loads did. `tessera status` prints
// these, tests check their invariants, and benchmarks read the counters.
#pragma once

#include "tessera/core/content_id.hpp"
#include "tessera/core/memory_pressure.hpp"
#include "tessera/core/tensor_spec.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::residency {

/// One blob a model needs, with its size, so a load can be admitted (or
/// refused) before anything is read.
struct blob_ref {
  content_id id;
  uint64_t bytes = 0;
};

/// The device tier. Every byte in `used_bytes` belongs to a blob:
/// used = referenced + cached + detached, and pinned <= referenced.
struct device_tier_stats {
  uint64_t budget_bytes = 0;
  uint64_t used_bytes = 0;       ///< live blob memory, counted where it is freed
  uint64_t reserved_bytes = 0;   ///< admitted loads still reading
  uint64_t referenced_bytes = 0; ///< resident blobs some model holds
  uint64_t cached_bytes = 0;     ///< resident blobs no model holds (evictable)
  uint64_t pinned_bytes = 0;     ///< resident blobs running work uses
  uint64_t detached_bytes = 0;   ///< freed blobs something outside still holds
  uint64_t resident_blobs = 0;
  uint64_t loading_blobs = 0;
  uint64_t allocator_bytes = 0;  ///< the device allocator's own count (copy mode)
  uint64_t allocator_kept_bytes = 0; ///< freed memory the allocator keeps for reuse
};

/// The host tier: staging buffers, the device's in-place mappings, and the
/// store's blob files kept mapped for copy-mode reads (page cache, decision 34).
struct host_tier_stats {
  uint64_t staging_bytes = 0;        ///< the staging pool's fixed size
  uint64_t staging_in_use_bytes = 0; ///< lent to loads in flight right now
  bool staging_locked = false;
  uint64_t aliased_bytes = 0;        ///< device-tier bytes that are mapped host memory
  uint64_t store_mapped_bytes = 0;   ///< blob files kept mapped (their page cache)
  uint64_t store_mappings = 0;
  /// Of them, those whose folder is watched for changes (decision 38); the
  /// others stat their file at every read (network file systems, no inotify).
  uint64_t store_mappings_watched = 0;
};

/// What a node keeps beyond what its loaded models hold, in bytes: the parts
/// that the host memory budget bounds (host_memory.hpp).
struct host_memory_parts {
  uint64_t mapped_files = 0;    ///< store blob files kept mapped (copy-mode reads)
  uint64_t kept_device = 0;     ///< freed device memory kept for the next loads
  uint64_t kept_blocks = 0;     ///< resident blobs that no loaded model holds
  uint64_t request_buffers = 0; ///< the inputs of requests in flight
  uint64_t total() const {
    return mapped_files + kept_device + kept_blocks + request_buffers;
  }
};

struct host_memory_stats {
  uint64_t budget_bytes = 0; ///< 0: no budget (nothing is trimmed for it)
  host_memory_parts now;
  host_memory_parts trimmed; ///< bytes given back for the budget, in total, by part
  uint64_t over_budget = 0;  ///< passes that found the total over the budget
  uint64_t heap_returns = 0; ///< times freed heap went back to the system (malloc_trim)
};

/// The background scrub's progress: passes over the resident blobs, and what
/// it found.
struct scrub_stats {
  uint64_t passes = 0;     ///< passes completed over every resident blob
  uint64_t blobs = 0;      ///< blobs hashed
  uint64_t bytes = 0;      ///< bytes hashed
  uint64_t mismatches = 0; ///< blobs whose bytes no longer matched their id
};

/// Cumulative counts since the manager started (or since reset_counters()).
struct residency_counters {
  uint64_t loads = 0;            ///< leases granted
  uint64_t refused_loads = 0;    ///< loads refused for lack of memory
  uint64_t failed_loads = 0;     ///< loads rolled back after a blob failed
  uint64_t unloads = 0;
  uint64_t blob_hits = 0;        ///< blobs a load found resident
  uint64_t blob_joins = 0;       ///< blobs a load found in flight and waited for
  uint64_t blobs_read = 0;       ///< blobs read from the store
  uint64_t bytes_read = 0;
  uint64_t copies = 0;           ///< host-to-device copies (copy mode)
  uint64_t bytes_copied = 0;     ///< bytes those copies moved
  uint64_t prefetched_blobs = 0; ///< blobs brought in by prefetch
  /// Blob files the kernel was asked to read ahead of a load's reads, once
  /// they went to the disk (decision 41).
  uint64_t readahead_blobs = 0;
  uint64_t evictions = 0;
  uint64_t bytes_evicted = 0;
  uint64_t evictions_dropped = 0; ///< of evictions, drop_cached()'s (the rest made room for a load)
  uint64_t failed_blob_reads = 0;
  /// In place: changes to the files of mapped resident blobs that the watch
  /// reported, blobs re-hashed after one (or by the scrub), those found not to
  /// match their id, and runs whose results were discarded because a file
  /// they used changed while they ran.
  uint64_t blob_file_changes = 0;
  uint64_t blobs_rehashed = 0;
  uint64_t blobs_found_changed = 0;
  uint64_t runs_discarded = 0;
};

struct residency_stats {
  device_tier_stats device;
  host_tier_stats host;
  residency_counters counters;
  scrub_stats scrub;
  pressure_level pressure = pressure_level::normal;
  std::vector<std::string> resident_models; ///< owners of live leases
};

/// One entry of the resident set, for `tessera status --blobs` and tests.
struct blob_residency {
  content_id id;
  tensor_spec spec;
  uint64_t bytes = 0;
  bool loading = false;
  uint32_t refs = 0;
  uint32_t pins = 0;
  uint32_t uses = 0;
  std::vector<std::string> holders; ///< owners of the leases that reference it
};

/// The store tier: blobs on disk.
struct store_tier_stats {
  uint64_t blobs = 0;
  uint64_t bytes = 0; ///< tensor data bytes (headers excluded)
};

} // namespace tessera::residency
