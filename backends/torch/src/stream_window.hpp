// The blocks one streamed run holds: the running block, blocks that later steps
// bind again, and a window of prefetched blocks that a helper thread leases
// ahead of the running one. It keeps the run's held bytes within a budget that
// may change at any time, and sizes the window from measured load and compute
// times. Torch-free: it deals in leases only; streamed_run binds and runs them.
#pragma once

#include "stream_plan.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/torch/streaming.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace tessera::torch_backend {

class stream_window {
public:
  /// The run's budget right now (its share, scaled by memory pressure).
  using budget_source = std::function<uint64_t()>;

  /// `held` (shared by the model's runs) is kept equal to the sum of the
  /// bytes its windows hold, kept blocks included; `all_leased` (shared by
  /// every stream of the executor; may be null) counts only the blocks leased
  /// or being read: the bytes the streams take from the device right now.
  stream_window(residency::residency_manager& residency, std::string owner,
                stream_plan plan, const stream_options& opts, budget_source budget,
                std::shared_ptr<std::atomic<uint64_t>> held,
                std::shared_ptr<std::atomic<uint64_t>> all_leased = nullptr);

  /// Stops the helper thread and releases every block still held.
  ~stream_window();

  stream_window(const stream_window&) = delete;
  stream_window& operator=(const stream_window&) = delete;

  /// Starts the helper thread when prefetching and some block is not
  /// resident; otherwise it starts at the first block read (evicted meanwhile).
  void start();

  /// Stops loading: the helper ends, and a take() waiting, or any later one,
  /// returns ec::unavailable (a run given up on).
  void stop();

  /// Waits for step `s` (steps are taken in order), loading it here when not
  /// prefetching; fills the block's load figures into `st`.
  caf::expected<residency::lease_ptr> take(uint32_t s, stream_block_stats& st);

  /// Step `s` ran: releases the blocks no later step binds.
  void finish(uint32_t s, double compute_ms);

  /// The budget changed: the helper re-checks it and gives back prefetched
  /// blocks that no longer fit.
  void budget_changed();

  /// Blocks leased ahead of the run and not yet taken (none in flight).
  uint32_t loaded_ahead() const;

  uint64_t peak_held_bytes() const;
  uint32_t forced_blocks() const;
  uint32_t trimmed_blocks() const;
  uint64_t retained_bytes() const;

private:
  struct loaded {
    residency::lease_ptr lease;
    caf::error error;
    double load_ms = 0.0;
  };

  struct running {
    uint32_t step = 0;
    residency::lease_ptr lease;
  };

  using lock_type = std::unique_lock<std::mutex>;

  void prefetch_loop();
  void wake_helper();
  /// Starts the helper thread; called with mtx_ held.
  void start_helper();
  uint64_t new_bytes(uint32_t s) const;
  bool admissible(uint32_t s, bool& forced) const;
  void load(lock_type& lock, uint32_t s, bool forced);
  bool trim(lock_type& lock);
  void count_lease(uint32_t s);
  void uncount_lease(uint32_t s);
  void hold(uint32_t s);
  void unhold(uint32_t s);
  void release(lock_type& lock, std::vector<running> leases);
  void adapt();
  void retain();
  void drop_retention();

  residency::residency_manager& residency_;
  std::string owner_;
  stream_plan plan_;
  stream_options opts_;
  budget_source budget_;
  std::shared_ptr<std::atomic<uint64_t>> held_total_;
  std::shared_ptr<std::atomic<uint64_t>> all_leased_;

  mutable std::mutex mtx_;
  /// Two conditions, so that each wake-up goes to the thread that can act on
  /// it: on a CPU that LibTorch keeps busy, every needless wake-up is a
  /// context switch that delays a block's compute.
  std::condition_variable run_cv_;    ///< the run waits for a step to be leased
  std::condition_variable helper_cv_; ///< the helper waits for room in the window
  uint32_t next_load_ = 0; ///< the next step to lease
  uint32_t next_run_ = 0;  ///< the next step the run will take
  bool waiting_ = false;   ///< the run waits for step next_run_
  uint32_t in_flight_ = 0; ///< leases being granted right now (helper or run)
  bool helper_idle_ = false; ///< the helper waits on helper_cv_
  /// Prefetching, but every block was resident at the start: no helper yet.
  bool helper_deferred_ = false;
  bool failed_ = false;
  bool stop_ = false;
  std::map<uint32_t, loaded> ready_; ///< leased, not yet taken
  std::vector<running> running_;      ///< taken, not yet released
  std::unordered_map<content_id, uint32_t> counts_; ///< held blob -> steps holding it
  std::unordered_map<content_id, uint32_t> leased_; ///< leased blob -> steps leasing it
  uint64_t held_ = 0;
  uint64_t peak_ = 0;
  uint32_t depth_ = 1; ///< blocks to keep loaded ahead of the running one
  double load_ms_ = 0.0;    ///< moving averages per block
  double compute_ms_ = 0.0;
  uint32_t forced_ = 0;
  uint32_t trimmed_ = 0;
  /// Steps kept cached between runs; their blobs are held from the start
  /// (`retained_blobs_`), so the bytes count against the budget all along.
  std::vector<bool> retained_;
  std::vector<residency::blob_ref> retained_blobs_;
  uint64_t retained_bytes_ = 0;
  std::thread helper_;
};

} // namespace tessera::torch_backend
