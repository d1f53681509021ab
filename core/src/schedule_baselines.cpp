#include "tessera/core/schedule_baselines.hpp"

#include <tuple>

namespace tessera {

namespace {

/// Picks the candidate with the smallest key; `key` returns a tuple.
template <class Key>
dispatch_rule smallest(Key key) {
  return [key](const dispatch_view& view) {
    const auto& cs = *view.candidates;
    const auto& reqs = view.inst->requests;
    size_t best = 0;
    for (size_t i = 1; i < cs.size(); ++i)
      if (key(reqs[cs[i].request]) < key(reqs[cs[best].request]))
        best = i;
    return best;
  };
}

} // namespace

schedule_plan schedule_fifo(const schedule_instance& inst, dispatch_options opts) {
  return dispatch(
      inst, smallest([](const schedule_request& r) { return std::make_tuple(r.arrival_ms, r.id); }),
      opts);
}

dispatch_rule edf_rule() {
  return smallest(
      [](const schedule_request& r) { return std::make_tuple(r.deadline_ms, r.arrival_ms, r.id); });
}

schedule_plan schedule_edf(const schedule_instance& inst, dispatch_options opts) {
  return dispatch(inst, edf_rule(), opts);
}

schedule_plan schedule_edf_lru(const schedule_instance& inst, dispatch_options opts) {
  auto unshared = inst;
  unshared.device.residency = residency_policy::lru_models;
  return schedule_edf(unshared, opts);
}

} // namespace tessera
