#include "scheduler_placement.hpp"

#include <algorithm>
#include <cmath>

namespace tessera::actors {

namespace {

double ms_since(steady_time from, steady_time now) {
  return std::max(0.0, std::chrono::duration<double, std::milli>(now - from).count());
}

// A running mean that follows change: the last jobs count most.
void blend(double& mean, double sample) {
  constexpr double weight = 0.2;
  mean = mean == 0.0 ? sample : (1.0 - weight) * mean + weight * sample;
}

} // namespace

std::shared_ptr<const std::map<std::string, placement_unit>>
placement_catalogue(const std::vector<model_manifest>& models) {
  auto out = std::make_shared<std::map<std::string, placement_unit>>();
  for (const auto& m : models)
    (*out)[m.name] = placement_unit_of(m);
  return out;
}

placement_table::placement_table(const scheduler_options& opts)
    : enabled_(opts.placement.mode == placement_mode::scored), opts_(opts.placement.policy),
      catalog_(opts.placement.catalog), nodes_(opts.placement.nodes) {
  // nop
}

uint32_t placement_table::node_of(size_t index) const {
  // Without a node map every executor is a node of its own; past the known
  // executors' nodes, numbers that no listed node uses.
  if (index < nodes_.size())
    return nodes_[index];
  return static_cast<uint32_t>(1u << 20) + static_cast<uint32_t>(index);
}

const std::string& placement_table::unit_of(const infer_job& job) const {
  if (!job.group)
    if (auto g = group_of_.find(job.model); g != group_of_.end())
      return g->second;
  return job.model;
}

unit_index placement_table::unit_id(const infer_job& job) {
  const auto& name = unit_of(job);
  if (auto i = ids_.find(name); i != ids_.end())
    return i->second;
  auto id = static_cast<unit_index>(names_.size());
  names_.push_back(name);
  ids_.emplace(name, id);
  placed_.emplace_back();
  // What executors hold was numbered without this unit.
  std::fill(held_known_.begin(), held_known_.end(), false);
  return id;
}

const std::vector<unit_index>& placement_table::units_on(size_t index) const {
  static const std::vector<unit_index> none;
  return index < units_on_.size() ? units_on_[index] : none;
}

std::vector<size_t> placement_table::executors_for(const std::vector<unit_index>& units,
                                                   size_t executors) const {
  std::vector<size_t> out;
  if (!enabled_) {
    for (size_t i = 0; i < executors; ++i)
      out.push_back(i);
    return out;
  }
  for (auto u : units)
    if (u < placed_.size())
      for (const auto& r : placed_[u])
        if (r.executor < executors)
          out.push_back(r.executor);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void placement_table::set_replicas(unit_index unit, std::vector<placed_replica> replicas) {
  for (const auto& r : placed_[unit]) {
    auto& on = units_on_[r.executor];
    on.erase(std::remove(on.begin(), on.end(), unit), on.end());
  }
  for (const auto& r : replicas) {
    if (r.executor >= units_on_.size())
      units_on_.resize(r.executor + 1);
    units_on_[r.executor].push_back(unit);
  }
  placed_[unit] = std::move(replicas);
}

const placement_unit& placement_table::unit_info(const std::string& unit) const {
  if (auto u = units_.find(unit); u != units_.end())
    return u->second;
  placement_unit info;
  info.name = unit;
  if (auto plan = plans_.find(unit); plan != plans_.end()) {
    info = placement_unit_of(plan->second->dag);
  } else if (catalog_ != nullptr) {
    if (auto c = catalog_->find(unit); c != catalog_->end())
      info = c->second;
  }
  return units_.emplace(unit, std::move(info)).first->second;
}

uint32_t placement_table::dense_node(size_t index) const {
  constexpr auto unknown = std::numeric_limits<uint32_t>::max();
  if (index >= dense_of_slot_.size())
    dense_of_slot_.resize(index + 1, unknown);
  auto& dense = dense_of_slot_[index];
  if (dense == unknown) {
    auto next = static_cast<uint32_t>(dense_of_node_.size());
    dense = dense_of_node_.emplace(node_of(index), next).first->second;
    if (resident_.size() <= dense) {
      resident_.resize(dense + 1);
      resident_known_.resize(dense + 1, false);
      resident_bytes_.resize(dense + 1);
      slots_of_node_.resize(dense + 1);
    }
    slots_of_node_[dense].push_back(index);
  }
  return dense;
}

uint64_t placement_table::resident_bytes(unit_index unit, size_t index,
                                         const std::vector<slot>& slots) const {
  constexpr auto unknown = std::numeric_limits<uint64_t>::max();
  auto node = dense_node(index);
  auto& by_unit = resident_bytes_[node];
  if (unit < by_unit.size() && by_unit[unit] != unknown)
    return by_unit[unit];
  if (!resident_known_[node]) {
    // What the node's executors hold is resident there: executors of one node
    // share its residency manager, so a blob loaded by one is free to another.
    auto& blobs = resident_[node];
    blobs.clear();
    if (auto r = reported_.find(node_of(index)); r != reported_.end())
      blobs.insert(r->second->begin(), r->second->end());
    for (auto i : slots_of_node_[node])
      if (i < slots.size())
        for (const auto& held : slots[i].models)
          for (const auto& [id, bytes] : unit_info(held).blobs)
            blobs.insert(id);
    resident_known_[node] = true;
  }
  auto bytes = unit_info(names_[unit]).resident_bytes(resident_[node]);
  if (by_unit.size() <= unit)
    by_unit.resize(names_.size(), unknown);
  by_unit[unit] = bytes;
  return bytes;
}

const std::vector<unit_index>& placement_table::held_units(size_t index,
                                                           const std::vector<slot>& slots) const {
  if (held_.size() <= index) {
    held_.resize(index + 1);
    held_known_.resize(index + 1, false);
  }
  auto& held = held_[index];
  if (!held_known_[index]) {
    held.clear();
    for (const auto& model : slots[index].models)
      if (auto id = ids_.find(model); id != ids_.end())
        held.push_back(id->second);
    std::sort(held.begin(), held.end());
    held_known_[index] = true;
  }
  return held;
}

double placement_table::service_ms(const std::string& unit) const {
  auto s = service_ms_.find(unit);
  return s != service_ms_.end() ? s->second : 0.0;
}

double placement_table::expected_ms(const std::string& unit) const {
  auto s = service_ms_.find(unit);
  return s != service_ms_.end() ? s->second : overall_ms_;
}

std::vector<executor_view> placement_table::base_views(const std::vector<slot>& slots,
                                                       const job_queue& queue,
                                                       double now_ms) const {
  std::vector<executor_view> out(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    auto& v = out[i];
    v.up = slots[i].up();
    v.node = node_of(i);
    if (auto f = free_bytes_.find(v.node); f != free_bytes_.end())
      v.free_bytes = f->second;
    if (slots[i].busy) {
      v.queued = 1;
      // What is left of the running work, by what it was expected to take
      // when it started; work past its estimate has at least a tenth of it
      // left. Work started before any estimate: half a job, on average.
      const auto& s = slots[i];
      v.queued_ms = s.expected_ms > 0.0
                        ? std::max(s.expected_ms - (now_ms - s.busy_since_ms), s.expected_ms / 10.0)
                        : overall_ms_ / 2.0;
    }
  }
  for (auto unit : queue.units_waiting())
    shift_load(out, unit, placed_[unit], queue, 1);
  return out;
}

void placement_table::shift_load(std::vector<executor_view>& views, unit_index unit,
                                 const std::vector<placed_replica>& replicas,
                                 const job_queue& queue, int sign) const {
  // A unit's queued jobs are shared among its executors.
  auto q = queue.queued(unit);
  if (replicas.empty() || q == 0)
    return;
  auto n = static_cast<double>(replicas.size());
  auto jobs = static_cast<uint32_t>(std::ceil(q / n));
  auto ms = q * expected_ms(names_[unit]) / n;
  for (const auto& r : replicas) {
    if (r.executor >= views.size())
      continue;
    auto& v = views[r.executor];
    v.queued = sign > 0 ? v.queued + jobs : v.queued - std::min(v.queued, jobs);
    v.queued_ms = sign > 0 ? v.queued_ms + ms : std::max(0.0, v.queued_ms - ms);
  }
}

std::vector<executor_view> placement_table::views(unit_index unit, const std::vector<slot>& slots,
                                                  const std::vector<executor_view>& base,
                                                  bool queued) const {
  auto out = base;
  const auto& name = names_[unit];
  for (size_t i = 0; i < slots.size(); ++i) {
    auto& v = out[i];
    const auto& held = held_units(i, slots);
    v.holds = std::binary_search(held.begin(), held.end(), unit);
    v.resident_bytes = v.up ? resident_bytes(unit, i, slots) : 0;
  }
  // The wait that counts is the work ahead of the unit's oldest job, so where
  // the unit is placed that job's own share is not part of it.
  const auto& replicas = placed_[unit];
  double own_ms =
      queued && !replicas.empty() ? expected_ms(name) / static_cast<double>(replicas.size()) : 0.0;
  for (const auto& r : replicas)
    if (r.executor < out.size())
      out[r.executor].queued_ms = std::max(0.0, out[r.executor].queued_ms - own_ms);
  return out;
}

bool placement_table::refresh_groups(const std::vector<slot>& slots) {
  if (!enabled_ || !groups_dirty_)
    return false;
  groups_dirty_ = false;
  auto before = std::move(group_of_);
  group_of_.clear();
  for (const auto& s : slots)
    for (const auto& plan : s.groups) {
      if (plans_.emplace(plan->name, plan).second)
        units_.erase(plan->name); // looked up before its plan was known
      for (const auto& m : plan->members)
        group_of_.emplace(m.model.substr(0, m.model.rfind(':')), plan->name);
    }
  return group_of_ != before;
}

bool placement_table::any_up(unit_index unit, const std::vector<slot>& slots) const {
  return std::any_of(placed_[unit].begin(), placed_[unit].end(), [&](const placed_replica& r) {
    return r.executor < slots.size() && slots[r.executor].up();
  });
}

placement_action placement_table::review_unit(unit_index unit, const std::vector<slot>& slots,
                                              const job_queue& queue,
                                              const std::vector<executor_view>& base,
                                              steady_time now, double now_ms) {
  auto replicas = placed_[unit];
  unit_load q;
  q.queued = queue.queued(unit);
  if (auto oldest = queue.oldest_arrival(unit))
    q.oldest_wait_ms = ms_since(*oldest, now);
  // With no job waiting, core's review can only drop a replica that is down
  // or idle: when none is, it keeps, and scoring every executor is skipped.
  if (q.queued == 0 && replicas.size() > 1 &&
      std::all_of(replicas.begin(), replicas.end(), [&](const placed_replica& r) {
        return r.executor < slots.size() && slots[r.executor].up() &&
               now_ms - r.last_run_ms < opts_.replica_idle_ms;
      }))
    return placement_action::keep;
  auto v = views(unit, slots, base, q.queued > 0);
  const auto& info = unit_info(names_[unit]);
  placement_change change;
  if (replicas.empty()) {
    if (auto to = place_unit(info, v, opts_))
      change = {placement_action::place, *to, "first job"};
  } else {
    change = review_placement(info, replicas, v, q, now_ms, opts_);
  }
  switch (change.action) {
  case placement_action::keep:
    return change.action;
  case placement_action::place:
  case placement_action::move:
    replicas = {placed_replica{change.executor, now_ms}};
    break;
  case placement_action::add:
    replicas.push_back(placed_replica{change.executor, now_ms});
    break;
  case placement_action::drop:
    replicas.erase(
        std::remove_if(replicas.begin(), replicas.end(),
                       [&](const placed_replica& r) { return r.executor == change.executor; }),
        replicas.end());
    break;
  }
  set_replicas(unit, std::move(replicas));
  ++counts_[change.action];
  return change.action;
}

placement_action placement_table::review_and_shift(unit_index unit, const std::vector<slot>& slots,
                                                   const job_queue& queue,
                                                   std::vector<executor_view>& base,
                                                   steady_time now, double now_ms) {
  auto before = placed_[unit];
  auto action = review_unit(unit, slots, queue, base, now, now_ms);
  if (action != placement_action::keep) {
    // Only the unit's own executors' loads change: adjust them, rather than
    // building every executor's view again.
    shift_load(base, unit, before, queue, -1);
    shift_load(base, unit, placed_[unit], queue, 1);
  }
  return action;
}

std::optional<size_t> placement_table::place_for_load(unit_index unit,
                                                      const std::vector<slot>& slots,
                                                      const job_queue& queue, double now_ms) {
  auto up = [&](size_t i) { return i < slots.size() && slots[i].up(); };
  if (!enabled_) {
    for (size_t i = 0; i < slots.size(); ++i)
      if (up(i))
        return i;
    return std::nullopt;
  }
  if (units_on_.size() < slots.size())
    units_on_.resize(slots.size());
  for (const auto& r : placed_[unit])
    if (up(r.executor))
      return r.executor;
  auto v = views(unit, slots, base_views(slots, queue, now_ms), false);
  auto to = place_unit(unit_info(names_[unit]), v, opts_);
  if (!to)
    return std::nullopt;
  set_replicas(unit, {placed_replica{*to, now_ms}});
  ++counts_[placement_action::place];
  return to;
}

void placement_table::review(const std::vector<slot>& slots, const job_queue& queue,
                             steady_time now, double now_ms) {
  if (!enabled_)
    return;
  if (units_on_.size() < slots.size())
    units_on_.resize(slots.size());
  auto waiting = queue.units_waiting();
  bool full =
      review_due_ || last_review_ms_ < 0.0 || now_ms - last_review_ms_ >= opts_.review_interval_ms;
  if (!full) {
    // Between reviews only units that no executor up would serve are placed.
    std::vector<executor_view> base;
    for (auto unit : waiting)
      if (!any_up(unit, slots)) {
        if (base.empty())
          base = base_views(slots, queue, now_ms);
        review_and_shift(unit, slots, queue, base, now, now_ms);
      }
    return;
  }
  review_due_ = false;
  last_review_ms_ = now_ms;
  // Units with work waiting, and units on more than one executor (replicas
  // to drop when the load falls); each gets one review.
  auto units = waiting;
  for (unit_index u = 0; u < placed_.size(); ++u)
    if (placed_[u].size() > 1 && queue.queued(u) == 0)
      units.push_back(u);
  auto base = base_views(slots, queue, now_ms);
  for (auto unit : units) {
    // A hot unit gets as many replicas at once as pay for themselves (each
    // one lowers the wait that the next is judged by), so a review every few
    // milliseconds spreads a burst as fast as a review on every event would.
    for (uint32_t changes = 0;; ++changes) {
      auto action = review_and_shift(unit, slots, queue, base, now, now_ms);
      if (action == placement_action::keep)
        break;
      if (action != placement_action::add || changes >= queue.queued(unit))
        break;
    }
  }
}

void placement_table::started(const std::string& unit, size_t index, double now_ms) {
  if (auto id = ids_.find(unit); id != ids_.end())
    for (auto& r : placed_[id->second])
      if (r.executor == index)
        r.last_run_ms = now_ms;
}

void placement_table::finished(const std::string& unit, size_t index, double run_ms,
                               uint64_t free_bytes, bool changed, bool groups_changed) {
  if (run_ms > 0.0) {
    blend(service_ms_[unit], run_ms);
    blend(overall_ms_, run_ms);
  }
  if (free_bytes != std::numeric_limits<uint64_t>::max())
    free_bytes_[node_of(index)] = free_bytes;
  if (changed)
    holdings_changed(index);
  if (groups_changed)
    groups_dirty_ = true;
}

void placement_table::loaded(uint64_t bytes, double load_ms) {
  // Loads of a few bytes are mostly fixed cost (binding a module), which
  // says little about bandwidth; below a megabyte they do not count.
  constexpr uint64_t least_bytes = 1u << 20;
  // Each load weighs as much as the last ~20 together: the estimate follows
  // a change (the page cache warming, another tier) within a few dozen loads.
  constexpr double keep = 0.95;
  if (bytes < least_bytes || !(load_ms > 0.0))
    return;
  load_bytes_seen_ = keep * load_bytes_seen_ + static_cast<double>(bytes);
  load_ms_seen_ = keep * load_ms_seen_ + load_ms;
  opts_.load_bytes_per_ms = load_bytes_seen_ / load_ms_seen_;
}

bool placement_table::resident_reported(size_t index,
                                        std::shared_ptr<const std::vector<content_id>> blobs) {
  if (blobs == nullptr)
    return false;
  auto& known = reported_[node_of(index)];
  if (known == blobs)
    return false;
  known = std::move(blobs);
  return true;
}

void placement_table::forget_report(size_t index) {
  reported_.erase(node_of(index));
  holdings_changed(index);
  groups_dirty_ = true;
  review_due_ = true;
}

void placement_table::holdings_changed(size_t index) {
  if (index < held_known_.size())
    held_known_[index] = false;
  auto node = dense_node(index);
  resident_known_[node] = false;
  resident_bytes_[node].clear();
}

placement_status placement_table::status() const {
  placement_status out;
  for (unit_index u = 0; u < placed_.size(); ++u) {
    if (placed_[u].empty())
      continue;
    auto& on = out.units[names_[u]];
    for (const auto& r : placed_[u])
      on.push_back(static_cast<uint32_t>(r.executor));
  }
  auto count = [&](placement_action a) {
    auto c = counts_.find(a);
    return c == counts_.end() ? uint64_t{0} : c->second;
  };
  out.placed = count(placement_action::place);
  out.added = count(placement_action::add);
  out.moved = count(placement_action::move);
  out.dropped = count(placement_action::drop);
  return out;
}

} // namespace tessera::actors
