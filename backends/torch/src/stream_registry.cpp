#include "stream_registry.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>

namespace tessera::torch_backend {

std::vector<std::shared_ptr<stream_registry::ticket>> stream_registry::split() {
  std::vector<swap_demand> demands;
  for (const auto& r : runs_)
    demands.push_back({r->largest_block_bytes, r->model_bytes, r->cap ? r->cap() : 0});
  auto shares = split_swap_budget(std::min(total_, room_), demands);
  std::vector<std::shared_ptr<ticket>> changed;
  for (size_t i = 0; i < runs_.size(); ++i)
    if (runs_[i]->share.exchange(shares[i]) != shares[i])
      changed.push_back(runs_[i]);
  return changed;
}

void stream_registry::notify(const std::vector<std::shared_ptr<ticket>>& changed) {
  cv_.notify_all();
  for (const auto& t : changed)
    if (t->changed)
      t->changed();
}

caf::error stream_registry::enter(const std::shared_ptr<ticket>& t) {
  std::vector<std::shared_ptr<ticket>> changed;
  {
    std::unique_lock<std::mutex> lock{mtx_};
    runs_.push_back(t);
    changed = split();
    // Wait for room; alone and still without a share, it never fits.
    cv_.wait(lock, [&] { return t->share.load() > 0 || runs_.size() == 1; });
    if (t->share.load() == 0) {
      runs_.erase(std::remove(runs_.begin(), runs_.end(), t), runs_.end());
      return make_error(ec::out_of_memory,
                        "model \"" + t->model + "\" cannot stream: its largest block needs "
                          + std::to_string(t->largest_block_bytes) + " bytes, the streaming budget is "
                          + std::to_string(total_) + " bytes"
                          + (room_ < total_ ? ", of which the device's other users leave "
                                                + std::to_string(room_) + " bytes"
                                            : ""));
    }
  }
  changed.erase(std::remove(changed.begin(), changed.end(), t), changed.end());
  notify(changed);
  return {};
}

void stream_registry::leave(const std::shared_ptr<ticket>& t) {
  std::vector<std::shared_ptr<ticket>> changed;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    runs_.erase(std::remove(runs_.begin(), runs_.end(), t), runs_.end());
    changed = split();
  }
  notify(changed);
}

void stream_registry::rebalance() {
  std::vector<std::shared_ptr<ticket>> changed;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    changed = split();
  }
  notify(changed);
}

uint64_t stream_registry::budget_of(const ticket& t) const {
  auto share = t.share.load();
  switch (pressure_.load()) {
    case pressure_level::high:
      return share / 2;
    case pressure_level::critical:
      return 0; // one block at a time
    default:
      return share;
  }
}

void stream_registry::set_total(uint64_t bytes) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    total_ = bytes;
  }
  rebalance();
}

void stream_registry::set_room(uint64_t bytes) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (room_ == bytes)
      return;
    room_ = bytes;
  }
  rebalance();
}

uint64_t stream_registry::total() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return total_;
}

void stream_registry::set_pressure(pressure_level level) {
  pressure_ = level;
  std::vector<std::shared_ptr<ticket>> all;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    all = runs_;
  }
  notify(all);
}

} // namespace tessera::torch_backend
