#include "tessera/core/placement.hpp"

#include <algorithm>
#include <cmath>

namespace tessera {

namespace {

constexpr double tie_ms = 1e-3;

} // namespace

placement_unit placement_unit_of(const model_manifest& m) {
  placement_unit u;
  u.name = m.name;
  for (const auto& [id, bytes] : unique_blobs(m))
    u.blobs.emplace_back(id, bytes);
  return u;
}

placement_unit placement_unit_of(const schedule_model& m) {
  placement_unit u;
  u.name = m.name;
  for (const auto& b : m.blocks)
    if (std::none_of(u.blobs.begin(), u.blobs.end(),
                     [&](const auto& x) { return x.first == b.id; }))
      u.blobs.emplace_back(b.id, b.bytes);
  return u;
}

uint64_t placement_unit::bytes() const {
  uint64_t total = 0;
  for (const auto& [id, n] : blobs)
    total += n;
  return total;
}

uint64_t placement_unit::resident_bytes(const std::unordered_set<content_id>& resident) const {
  uint64_t total = 0;
  for (const auto& [id, n] : blobs)
    if (resident.count(id) > 0)
      total += n;
  return total;
}

namespace {

// The score for a unit of `bytes` in all: place_unit sums a unit's bytes once
// for all the executors it scores.
placement_score score_of(uint64_t bytes, const executor_view& e, const placement_options& opts) {
  placement_score s;
  s.wait_ms = e.queued_ms;
  if (e.holds)
    return s;
  auto missing = bytes - std::min(bytes, e.resident_bytes);
  auto bandwidth = std::max(opts.load_bytes_per_ms, 1e-9);
  s.load_ms = static_cast<double>(missing) / bandwidth;
  // Room the node lacks is made by evicting blobs of other units, which their
  // next jobs read again: charge those bytes as a later load.
  if (missing > e.free_bytes)
    s.evict_ms = opts.evict_weight * static_cast<double>(missing - e.free_bytes) / bandwidth;
  return s;
}

} // namespace

placement_score score_executor(const placement_unit& unit, const executor_view& e,
                               const placement_options& opts) {
  return score_of(unit.bytes(), e, opts);
}

namespace {

// better_place with both costs known.
bool better_at(const executor_view& a, double ca, const executor_view& b, double cb) {
  if (std::abs(ca - cb) > tie_ms)
    return ca < cb;
  if (a.queued != b.queued)
    return a.queued < b.queued;
  if (a.holds != b.holds)
    return a.holds;
  return a.resident_bytes > b.resident_bytes;
}

} // namespace

bool better_place(const placement_unit& unit, const executor_view& a, const executor_view& b,
                  const placement_options& opts) {
  return better_at(a, score_executor(unit, a, opts).total_ms(), b,
                   score_executor(unit, b, opts).total_ms());
}

std::optional<size_t> place_unit(const placement_unit& unit,
                                 const std::vector<executor_view>& views,
                                 const placement_options& opts,
                                 const std::vector<size_t>& exclude) {
  // A mask, not a search of `exclude` per executor: a review excludes every
  // busy executor, and a search made each placement quadratic in executors.
  std::vector<bool> excluded(views.size(), false);
  for (auto e : exclude)
    if (e < excluded.size())
      excluded[e] = true;
  // Each executor is scored once (better_place would score the best so far
  // again at every comparison).
  std::optional<size_t> best;
  double best_ms = 0.0;
  auto bytes = unit.bytes();
  for (size_t i = 0; i < views.size(); ++i) {
    if (!views[i].up || excluded[i])
      continue;
    auto ms = score_of(bytes, views[i], opts).total_ms();
    if (!best || better_at(views[i], ms, views[*best], best_ms)) {
      best = i;
      best_ms = ms;
    }
  }
  return best;
}

const char* to_string(placement_action a) {
  switch (a) {
  case placement_action::keep:
    return "keep";
  case placement_action::place:
    return "place";
  case placement_action::add:
    return "add";
  case placement_action::move:
    return "move";
  case placement_action::drop:
    return "drop";
  }
  return "?";
}

placement_change review_placement(const placement_unit& unit,
                                  const std::vector<placed_replica>& placed,
                                  const std::vector<executor_view>& views, const unit_load& load,
                                  double now_ms, const placement_options& opts) {
  auto is_up = [&](size_t e) { return e < views.size() && views[e].up; };
  std::vector<size_t> on;
  for (const auto& r : placed)
    on.push_back(r.executor);
  size_t up_count = static_cast<size_t>(std::count_if(on.begin(), on.end(), is_up));
  // A unit whose executors are all down goes where it now fits best.
  if (up_count == 0) {
    auto to = place_unit(unit, views, opts);
    if (!to)
      return {placement_action::keep, 0, "no executor is up"};
    return {placement_action::place, *to, "its executors are down"};
  }
  for (auto e : on)
    if (!is_up(e))
      return {placement_action::drop, e, "the executor is down"};
  bool hot = load.queued >= opts.replicate_queued_jobs * up_count ||
             load.oldest_wait_ms >= opts.replicate_wait_ms;
  // The best of its executors, and the best idle or lightly loaded other one.
  size_t best_on = on.front();
  for (auto e : on)
    if (better_place(unit, views[e], views[best_on], opts))
      best_on = e;
  auto exclude = on;
  for (size_t i = 0; i < views.size(); ++i)
    if (views[i].queued > opts.light_queued_jobs)
      exclude.push_back(i);
  auto other = place_unit(unit, views, opts, exclude);
  // Waiting jobs finish sooner there, even after loading the unit.
  if (load.queued > 0 && other && better_place(unit, views[*other], views[best_on], opts)) {
    if (hot && (opts.max_replicas == 0 || on.size() < opts.max_replicas))
      return {placement_action::add, *other, "hot: a lightly loaded executor serves it sooner"};
    if (!hot)
      return {placement_action::move, *other, "its executors are busy with other work"};
  }
  // The load fell: drop the replica that has been idle the longest.
  if (!hot && placed.size() > 1) {
    auto idle = std::min_element(placed.begin(), placed.end(),
                                 [](const placed_replica& a, const placed_replica& b) {
                                   return a.last_run_ms < b.last_run_ms;
                                 });
    if (now_ms - idle->last_run_ms >= opts.replica_idle_ms)
      return {placement_action::drop, idle->executor, "the load fell"};
  }
  return {};
}

} // namespace tessera
