// The node's host memory budget (node key host_memory_budget, decision 46).
//
// Beyond what loaded models hold and what the device budget bounds, a node
// keeps memory for speed: blob files kept mapped for copy-mode reads, freed
// device memory kept for the next loads, the blocks of unloaded models, and
// the buffers of requests in flight. Each has its own bound; none bounds their
// sum, so an operator could not say how much memory the node may keep. This
// keeper adds their sizes up, and while the sum is over the budget it trims
// them in that order: mappings first (the cheapest to make again), then kept
// device memory, then kept blocks (the eviction policy's victims first), and
// last the heap that request buffers left behind. A burst's buffers go back to
// the system once it drains, budget or not.
//
// Kept device memory and kept blocks count only where the device's memory is
// host memory (the CPU, unified memory); on a discrete GPU they are device
// memory, which the device budget and device_cache_bytes bound.
#pragma once

#include "tessera/backend/device_memory.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/store/blob_map_cache.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace tessera::residency {

struct host_memory_options {
  uint64_t budget_bytes = 0;
  /// How often the sum is taken.
  std::chrono::milliseconds period{500};
  /// Request buffers that reached this much and then drained to a quarter of
  /// it give their freed heap back to the system.
  uint64_t burst_bytes = 16ull << 20;
};

class host_memory_keeper {
public:
  /// `request_bytes` says the bytes of request inputs in flight now (the
  /// gateway's count); it may be empty. Every reference must outlive the keeper.
  /// `start_thread` false: no thread, the caller runs pass() (tests).
  host_memory_keeper(residency_manager& mgr, backend::device_memory& device,
                     store::blob_map_cache& mappings, std::function<uint64_t()> request_bytes,
                     host_memory_options opts, bool start_thread = true);
  ~host_memory_keeper();

  host_memory_keeper(const host_memory_keeper&) = delete;
  host_memory_keeper& operator=(const host_memory_keeper&) = delete;

  /// The parts as they are now.
  host_memory_parts measure() const;

  /// One pass: trims, in order, until the total is within the budget, and
  /// gives a drained burst's heap back. Returns the bytes trimmed.
  uint64_t pass();

  /// What was trimmed so far, with the parts as they are now.
  host_memory_stats stats() const;

private:
  void loop();

  residency_manager& mgr_;
  backend::device_memory& device_;
  store::blob_map_cache& mappings_;
  std::function<uint64_t()> request_bytes_;
  host_memory_options opts_;
  std::mutex pass_mtx_; ///< one pass at a time
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  host_memory_stats stats_;
  uint64_t burst_peak_ = 0; ///< request bytes' peak since the heap last went back
  std::thread thread_;
};

} // namespace tessera::residency
