#include "tessera/core/schedule_greedy.hpp"

#include "tessera/core/schedule_baselines.hpp"

#include <limits>
#include <tuple>

namespace tessera {

namespace {

/// Residency and clock once candidate `pick` has run.
dispatch_state state_after(const dispatch_view& view, size_t pick) {
  const auto& inst = *view.inst;
  const auto& c = (*view.candidates)[pick];
  dispatch_state state;
  state.now_ms = c.completion_ms;
  state.residency = *view.residency;
  note_served(inst, state.residency, inst.requests[c.request].model);
  for (auto idx : *view.pending)
    if (idx != c.request)
      state.pending.push_back(idx);
  return state;
}

/// Deadlines met if `pick` runs next and EDF decides everything after it.
size_t rollout_value(const dispatch_view& view, size_t pick) {
  return 1 + dispatch_from(*view.inst, state_after(view, pick), edf_rule()).size();
}

/// One step of look-ahead: the candidates still able to finish in time if
/// `pick` runs next, counting itself.
size_t survivors_value(const dispatch_view& view, size_t pick) {
  const auto& inst = *view.inst;
  const auto& cs = *view.candidates;
  auto after = state_after(view, pick);
  size_t alive = 1;
  for (size_t k = 0; k < cs.size(); ++k) {
    if (k == pick)
      continue;
    const auto& r = inst.requests[cs[k].request];
    double start = std::max(after.now_ms, r.arrival_ms);
    if (start + load_ms(inst, after.residency, r.model) + cs[k].exec_ms <= r.deadline_ms)
      ++alive;
  }
  return alive;
}

} // namespace

schedule_plan schedule_sharing_greedy(const schedule_instance& inst, greedy_options opts) {
  auto rule = [opts](const dispatch_view& view) {
    const auto& cs = *view.candidates;
    const auto& reqs = view.inst->requests;
    int top = std::numeric_limits<int>::min();
    for (const auto& c : cs)
      top = std::max(top, reqs[c.request].priority);
    // Best value first; then the cheapest load and run given what is resident;
    // then the earliest deadline; then the lowest id.
    using key = std::tuple<long long, double, double, uint64_t>;
    size_t best = 0;
    key best_key{std::numeric_limits<long long>::max(), 0.0, 0.0, 0};
    for (size_t i = 0; i < cs.size(); ++i) {
      const auto& r = reqs[cs[i].request];
      if (opts.honour_priority && r.priority < top)
        continue;
      auto value = opts.rollout ? rollout_value(view, i) : survivors_value(view, i);
      key k{-static_cast<long long>(value), cs[i].load_ms + cs[i].exec_ms, r.deadline_ms, r.id};
      if (k < best_key) {
        best = i;
        best_key = k;
      }
    }
    return best;
  };
  return dispatch(inst, rule, opts.dispatch);
}

} // namespace tessera
