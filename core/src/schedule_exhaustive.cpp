#include "tessera/core/schedule_exhaustive.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>

namespace tessera {

namespace {

class exhaustive_search {
public:
  explicit exhaustive_search(const schedule_instance& inst)
      : inst_(inst), used_(inst.requests.size(), false) {
    for (const auto& m : inst.models)
      exec_ms_.push_back(model_exec_ms(m));
    // Under last_model residency a late request never helps the ones after it
    // (removing it cannot delay them), so the search may skip late requests.
    // Under the LRU policies running a late request refreshes recency, which
    // can help, so those searches try them too.
    skip_late_ = inst.device.residency == residency_policy::last_model;
  }

  std::vector<size_t> run() {
    visit(inst_.start_ms, initial_residency(inst_), 0);
    return best_order_;
  }

private:
  /// Deadlines that could still be met from `now`, ignoring loads: a bound.
  size_t optimistic(double now) const {
    size_t n = 0;
    for (size_t i = 0; i < used_.size(); ++i) {
      const auto& r = inst_.requests[i];
      if (!used_[i] && std::max(now, r.arrival_ms) + exec_ms_[r.model] <= r.deadline_ms)
        ++n;
    }
    return n;
  }

  void visit(double now, const residency_state& state, size_t met) {
    if (met > best_met_) {
      best_met_ = met;
      best_order_ = order_;
    }
    if (met + optimistic(now) <= best_met_)
      return;
    for (size_t i = 0; i < used_.size(); ++i) {
      if (used_[i])
        continue;
      const auto& r = inst_.requests[i];
      double done =
          std::max(now, r.arrival_ms) + load_ms(inst_, state, r.model) + exec_ms_[r.model];
      bool on_time = done <= r.deadline_ms;
      if (!on_time && skip_late_)
        continue;
      auto next = state;
      note_served(inst_, next, r.model);
      used_[i] = true;
      order_.push_back(i);
      visit(done, next, met + (on_time ? 1 : 0));
      order_.pop_back();
      used_[i] = false;
    }
  }

  const schedule_instance& inst_;
  std::vector<double> exec_ms_;
  std::vector<bool> used_;
  std::vector<size_t> order_;
  std::vector<size_t> best_order_;
  size_t best_met_ = 0;
  bool skip_late_ = false;
};

} // namespace

caf::expected<schedule_plan> schedule_exhaustive(const schedule_instance& inst,
                                                 size_t max_requests) {
  if (auto err = validate(inst))
    return err;
  if (inst.requests.size() > max_requests)
    return make_error(ec::unsupported, "exhaustive search over " +
                                           std::to_string(inst.requests.size()) +
                                           " requests; at most " + std::to_string(max_requests));
  exhaustive_search search{inst};
  auto order = search.run();
  // Late requests that only served to refresh residency stay in the order:
  // they are part of what makes the others meet their deadlines.
  return simulate(inst, std::move(order));
}

} // namespace tessera
