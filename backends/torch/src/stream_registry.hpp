// The streams of one streaming executor that run right now, and the budget they
// share: each run enters with its demand, gets a share from split_swap_budget
// (core), waits while it cannot get even its largest block, and is told when
// its share changes (another run came or went, a budget or memory pressure
// changed). Torch-free.
#pragma once

#include "tessera/core/memory_pressure.hpp"
#include "tessera/core/swap_budget.hpp"

#include <caf/error.hpp>

#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tessera::torch_backend {

class stream_registry {
public:
  /// One running stream.
  struct ticket {
    std::string model;
    uint64_t largest_block_bytes = 0;
    uint64_t model_bytes = 0;
    /// The model's own budget right now.
    std::function<uint64_t()> cap;
    /// Called (outside the registry's lock) when the run's budget changed.
    std::function<void()> changed;
    std::atomic<uint64_t> share{0};
  };

  explicit stream_registry(uint64_t total_bytes) : total_(total_bytes) {
    // nop
  }

  /// Adds the run and waits until its share covers its largest block; fails
  /// with ec::out_of_memory when even alone it would not.
  caf::error enter(const std::shared_ptr<ticket>& t);

  /// Removes the run; the others get its share.
  void leave(const std::shared_ptr<ticket>& t);

  /// Recomputes every share (after a budget changed).
  void rebalance();

  /// The budget the run must keep to now: its share, scaled by pressure.
  uint64_t budget_of(const ticket& t) const;

  void set_total(uint64_t bytes);
  uint64_t total() const;
  /// What the device's other users leave to streams right now; shares are
  /// split from min(total, room).
  void set_room(uint64_t bytes);
  void set_pressure(pressure_level level);

private:
  /// Computes shares under the lock; returns the runs whose share changed.
  std::vector<std::shared_ptr<ticket>> split();
  void notify(const std::vector<std::shared_ptr<ticket>>& changed);

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  uint64_t total_;
  uint64_t room_ = UINT64_MAX;
  std::atomic<pressure_level> pressure_{pressure_level::normal};
  std::vector<std::shared_ptr<ticket>> runs_; ///< in arrival order
};

} // namespace tessera::torch_backend
