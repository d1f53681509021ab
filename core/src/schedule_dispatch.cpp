#include "tessera/core/schedule_dispatch.hpp"

#include <algorithm>
#include <limits>

namespace tessera {

dispatch_state initial_dispatch_state(const schedule_instance& inst) {
  dispatch_state state;
  state.now_ms = inst.start_ms;
  state.residency = initial_residency(inst);
  state.pending.resize(inst.requests.size());
  for (size_t i = 0; i < state.pending.size(); ++i)
    state.pending[i] = i;
  return state;
}

std::vector<size_t> dispatch_from(const schedule_instance& inst, dispatch_state state,
                                  const dispatch_rule& rule, dispatch_options opts) {
  std::vector<size_t> order;
  std::vector<dispatch_candidate> candidates;
  auto& pending = state.pending;
  while (!pending.empty()) {
    candidates.clear();
    double next_arrival = std::numeric_limits<double>::infinity();
    std::vector<size_t> still_pending;
    for (auto idx : pending) {
      const auto& r = inst.requests[idx];
      if (r.arrival_ms > state.now_ms && !opts.wait_for_arrivals) {
        next_arrival = std::min(next_arrival, r.arrival_ms);
        still_pending.push_back(idx);
        continue;
      }
      dispatch_candidate c;
      c.request = idx;
      c.start_ms = std::max(state.now_ms, r.arrival_ms);
      c.load_ms = load_ms(inst, state.residency, r.model);
      c.exec_ms = model_exec_ms(inst.models[r.model]);
      c.completion_ms = c.start_ms + c.load_ms + c.exec_ms;
      // An arrived request that would finish late now finishes later still after
      // anything else, so it is dropped. One that has not arrived may find its
      // blocks loaded by others meanwhile: only its execution alone decides.
      bool late = c.completion_ms > r.deadline_ms && !opts.keep_late;
      bool future = r.arrival_ms > state.now_ms;
      if (late && (!future || c.start_ms + c.exec_ms > r.deadline_ms))
        continue;
      if (!late)
        candidates.push_back(c);
      still_pending.push_back(idx);
    }
    pending = std::move(still_pending);
    if (candidates.empty()) {
      if (pending.empty() || next_arrival == std::numeric_limits<double>::infinity())
        break;
      state.now_ms = next_arrival; // idle until the next input is on the node
      continue;
    }
    dispatch_view view{&inst, state.now_ms, &state.residency, &candidates, &pending};
    auto pick = candidates[std::min(rule(view), candidates.size() - 1)];
    order.push_back(pick.request);
    pending.erase(std::find(pending.begin(), pending.end(), pick.request));
    state.now_ms = pick.completion_ms;
    note_served(inst, state.residency, inst.requests[pick.request].model);
  }
  return order;
}

schedule_plan dispatch(const schedule_instance& inst, const dispatch_rule& rule,
                       dispatch_options opts) {
  return simulate(inst, dispatch_from(inst, initial_dispatch_state(inst), rule, opts));
}

} // namespace tessera
