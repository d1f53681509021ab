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

bool placement_table::placed_on(const std::string& unit, size_t index) const {
  if (!enabled_)
    return true;
  auto p = placed_.find(unit);
  if (p == placed_.end())
    return false;
  return std::any_of(p->second.begin(), p->second.end(),
                     [&](const placed_replica& r) { return r.executor == index; });
}

std::vector<size_t> placement_table::executors_of(const std::string& unit) const {
  std::vector<size_t> out;
  if (auto p = placed_.find(unit); p != placed_.end())
    for (const auto& r : p->second)
      out.push_back(r.executor);
  return out;
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

uint64_t placement_table::resident_bytes(const std::string& unit, uint32_t node,
                                         const std::vector<slot>& slots) const {
  auto key = std::make_pair(unit, node);
  if (auto r = resident_bytes_.find(key); r != resident_bytes_.end())
    return r->second;
  auto set = resident_.find(node);
  if (set == resident_.end()) {
    // What the node's executors hold is resident there: executors of one node
    // share its residency manager, so a blob loaded by one is free to another.
    std::unordered_set<content_id> blobs;
    if (auto r = reported_.find(node); r != reported_.end())
      blobs.insert(r->second->begin(), r->second->end());
    for (size_t i = 0; i < slots.size(); ++i)
      if (node_of(i) == node)
        for (const auto& held : slots[i].models)
          for (const auto& [id, bytes] : unit_info(held).blobs)
            blobs.insert(id);
    set = resident_.emplace(node, std::move(blobs)).first;
  }
  auto bytes = unit_info(unit).resident_bytes(set->second);
  resident_bytes_.emplace(key, bytes);
  return bytes;
}

double placement_table::mean_ms(const std::string& unit) const {
  auto s = service_ms_.find(unit);
  return s != service_ms_.end() ? s->second : overall_ms_;
}

std::vector<placement_table::slot_load>
placement_table::loads(const std::vector<slot>& slots,
                       const std::map<std::string, unit_load>& queued) const {
  std::vector<slot_load> out(slots.size());
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i].busy) {
      out[i].queued = 1;
      out[i].queued_ms = overall_ms_ / 2.0; // half a job is left, on average
    }
  // A unit's queued jobs are shared among its executors.
  for (const auto& [unit, replicas] : placed_) {
    auto q = queued.find(unit);
    if (q == queued.end() || replicas.empty())
      continue;
    auto n = static_cast<double>(replicas.size());
    for (const auto& r : replicas) {
      if (r.executor >= out.size())
        continue;
      out[r.executor].queued += static_cast<uint32_t>(std::ceil(q->second.queued / n));
      out[r.executor].queued_ms += q->second.queued * mean_ms(unit) / n;
    }
  }
  return out;
}

std::vector<executor_view> placement_table::views(const std::string& unit,
                                                  const std::vector<slot>& slots,
                                                  const std::vector<slot_load>& load,
                                                  bool queued) const {
  std::vector<executor_view> out(slots.size());
  // The wait that counts is the work ahead of the unit's oldest job, so where
  // the unit is placed that job's own share is not part of it.
  auto replicas = executors_of(unit);
  double own_ms =
      queued && !replicas.empty() ? mean_ms(unit) / static_cast<double>(replicas.size()) : 0.0;
  for (size_t i = 0; i < slots.size(); ++i) {
    auto& v = out[i];
    v.up = slots[i].up();
    v.node = node_of(i);
    if (auto f = free_bytes_.find(v.node); f != free_bytes_.end())
      v.free_bytes = f->second;
    v.holds = slots[i].models.count(unit) > 0;
    v.resident_bytes = v.up ? resident_bytes(unit, v.node, slots) : 0;
    v.queued = load[i].queued;
    v.queued_ms = load[i].queued_ms;
    if (std::find(replicas.begin(), replicas.end(), i) != replicas.end())
      v.queued_ms = std::max(0.0, v.queued_ms - own_ms);
  }
  return out;
}

void placement_table::refresh_groups(const std::vector<slot>& slots) {
  if (!groups_dirty_)
    return;
  groups_dirty_ = false;
  group_of_.clear();
  for (const auto& s : slots)
    for (const auto& plan : s.groups) {
      if (plans_.emplace(plan->name, plan).second)
        units_.erase(plan->name); // looked up before its plan was known
      for (const auto& m : plan->members)
        group_of_.emplace(m.model.substr(0, m.model.rfind(':')), plan->name);
    }
}

void placement_table::review(const std::vector<slot>& slots, const std::deque<pending>& queue,
                             steady_time now, double now_ms) {
  if (!enabled_)
    return;
  refresh_groups(slots);
  std::map<std::string, unit_load> queued;
  for (const auto& p : queue) {
    auto& q = queued[unit_of(p.job)];
    ++q.queued;
    q.oldest_wait_ms = std::max(q.oldest_wait_ms, ms_since(p.job.arrival, now));
  }
  // Units with work waiting, and units on more than one executor (replicas
  // to drop when the load falls); each gets one review.
  std::vector<std::string> units;
  for (const auto& [unit, q] : queued)
    units.push_back(unit);
  for (const auto& [unit, replicas] : placed_)
    if (replicas.size() > 1 && queued.count(unit) == 0)
      units.push_back(unit);
  auto load = loads(slots, queued);
  for (const auto& unit : units) {
    auto& replicas = placed_[unit];
    auto q = queued.count(unit) > 0 ? queued[unit] : unit_load{};
    auto v = views(unit, slots, load, q.queued > 0);
    placement_change change;
    if (replicas.empty()) {
      if (auto to = place_unit(unit_info(unit), v, opts_))
        change = {placement_action::place, *to, "first job"};
    } else {
      change = review_placement(unit_info(unit), replicas, v, q, now_ms, opts_);
    }
    switch (change.action) {
    case placement_action::keep:
      continue;
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
    ++counts_[change.action];
    load = loads(slots, queued);
  }
}

void placement_table::started(const std::string& unit, size_t index, double now_ms) {
  if (auto p = placed_.find(unit); p != placed_.end())
    for (auto& r : p->second)
      if (r.executor == index)
        r.last_run_ms = now_ms;
}

void placement_table::finished(const std::string& unit, size_t index, double run_ms,
                               uint64_t free_bytes, bool changed) {
  if (run_ms > 0.0) {
    blend(service_ms_[unit], run_ms);
    blend(overall_ms_, run_ms);
  }
  if (free_bytes != std::numeric_limits<uint64_t>::max())
    free_bytes_[node_of(index)] = free_bytes;
  if (changed)
    holdings_changed(index);
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
}

void placement_table::holdings_changed(size_t index) {
  auto node = node_of(index);
  resident_.erase(node);
  for (auto i = resident_bytes_.begin(); i != resident_bytes_.end();)
    i = i->first.second == node ? resident_bytes_.erase(i) : std::next(i);
  groups_dirty_ = true;
}

placement_status placement_table::status() const {
  placement_status out;
  for (const auto& [unit, replicas] : placed_) {
    if (replicas.empty())
      continue;
    auto& on = out.units[unit];
    for (const auto& r : replicas)
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
