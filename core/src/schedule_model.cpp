#include "tessera/core/schedule_model.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <cmath>

namespace tessera {

const char* to_string(residency_policy p) {
  switch (p) {
  case residency_policy::last_model:
    return "last_model";
  case residency_policy::lru_blocks:
    return "lru_blocks";
  case residency_policy::lru_models:
    return "lru_models";
  }
  return "unknown";
}

caf::error validate(const schedule_instance& inst) {
  if (!(inst.device.load_bytes_per_ms > 0.0) || !std::isfinite(inst.device.load_bytes_per_ms))
    return make_error(ec::invalid_argument, "device.load_bytes_per_ms must be positive");
  if (!std::isfinite(inst.start_ms))
    return make_error(ec::invalid_argument, "start_ms must be finite");
  if (inst.resident_model >= static_cast<int>(inst.models.size()))
    return make_error(ec::invalid_argument, "resident_model is not a model index");
  for (size_t m = 0; m < inst.models.size(); ++m)
    for (const auto& b : inst.models[m].blocks)
      if (!(b.exec_ms >= 0.0) || !std::isfinite(b.exec_ms))
        return make_error(ec::invalid_argument,
                          "model " + std::to_string(m) + ": exec_ms must be finite and >= 0");
  for (const auto& r : inst.requests) {
    auto who = "request " + std::to_string(r.id) + ": ";
    if (r.model >= inst.models.size())
      return make_error(ec::invalid_argument, who + "model is not a model index");
    if (!std::isfinite(r.arrival_ms) || !std::isfinite(r.deadline_ms))
      return make_error(ec::invalid_argument, who + "arrival_ms and deadline_ms must be finite");
  }
  return {};
}

uint64_t model_bytes(const schedule_model& m) {
  uint64_t sum = 0;
  for (const auto& b : m.blocks)
    sum += b.bytes;
  return sum;
}

double model_exec_ms(const schedule_model& m) {
  double sum = 0.0;
  for (const auto& b : m.blocks)
    sum += b.exec_ms;
  return sum;
}

residency_state initial_residency(const schedule_instance& inst) {
  residency_state state;
  if (inst.resident_model >= 0)
    note_served(inst, state, static_cast<size_t>(inst.resident_model));
  return state;
}

namespace {

bool contains(const std::vector<content_id>& ids, const content_id& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

uint64_t bytes_of(const schedule_instance& inst, const content_id& id) {
  for (const auto& m : inst.models)
    for (const auto& b : m.blocks)
      if (b.id == id)
        return b.bytes;
  return 0;
}

} // namespace

uint64_t missing_bytes(const schedule_instance& inst, const residency_state& state, size_t model) {
  const auto& m = inst.models[model];
  if (inst.device.residency == residency_policy::lru_models)
    return std::find(state.models.begin(), state.models.end(), model) != state.models.end()
               ? 0
               : model_bytes(m);
  uint64_t sum = 0;
  for (const auto& b : m.blocks)
    if (!contains(state.blocks, b.id))
      sum += b.bytes;
  return sum;
}

double load_ms(const schedule_instance& inst, const residency_state& state, size_t model) {
  return static_cast<double>(missing_bytes(inst, state, model)) / inst.device.load_bytes_per_ms;
}

void note_served(const schedule_instance& inst, residency_state& state, size_t model) {
  const auto& m = inst.models[model];
  switch (inst.device.residency) {
  case residency_policy::last_model:
    state.blocks.clear();
    for (const auto& b : m.blocks)
      if (!contains(state.blocks, b.id))
        state.blocks.push_back(b.id);
    return;
  case residency_policy::lru_blocks: {
    // The model's blocks become the most recent, bottom block first: a model too
    // large for the budget keeps its bottom blocks, the likeliest to be shared.
    std::vector<content_id> next;
    for (const auto& b : m.blocks)
      if (!contains(next, b.id))
        next.push_back(b.id);
    for (const auto& id : state.blocks)
      if (!contains(next, id))
        next.push_back(id);
    uint64_t total = 0;
    size_t keep = 0;
    for (; keep < next.size(); ++keep) {
      auto bytes = bytes_of(inst, next[keep]);
      if (total + bytes > inst.device.capacity_bytes)
        break;
      total += bytes;
    }
    next.resize(keep);
    state.blocks = std::move(next);
    return;
  }
  case residency_policy::lru_models: {
    auto& ms = state.models;
    ms.erase(std::remove(ms.begin(), ms.end(), model), ms.end());
    ms.insert(ms.begin(), model);
    uint64_t total = 0;
    size_t keep = 0;
    for (; keep < ms.size(); ++keep) {
      auto bytes = model_bytes(inst.models[ms[keep]]);
      if (keep > 0 && total + bytes > inst.device.capacity_bytes)
        break;
      total += bytes;
    }
    ms.resize(keep);
    return;
  }
  }
}

schedule_plan simulate(const schedule_instance& inst, std::vector<size_t> order) {
  schedule_plan plan;
  auto state = initial_residency(inst);
  double now = inst.start_ms;
  for (auto idx : order) {
    const auto& r = inst.requests[idx];
    request_outcome out;
    out.request = idx;
    out.start_ms = std::max(now, r.arrival_ms);
    out.load_ms = load_ms(inst, state, r.model);
    out.completion_ms = out.start_ms + out.load_ms + model_exec_ms(inst.models[r.model]);
    out.met = out.completion_ms <= r.deadline_ms;
    plan.met += out.met ? 1 : 0;
    now = out.completion_ms;
    note_served(inst, state, r.model);
    plan.outcomes.push_back(out);
  }
  plan.order = std::move(order);
  return plan;
}

std::vector<uint64_t> served_ids(const schedule_instance& inst, const schedule_plan& plan) {
  std::vector<uint64_t> ids;
  for (auto idx : plan.order)
    ids.push_back(inst.requests[idx].id);
  return ids;
}

} // namespace tessera
