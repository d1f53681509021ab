#include "scheduler_queue.hpp"

#include "tessera/core/batching.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/fusion_pass.hpp"

#include <algorithm>
#include <functional>

namespace tessera::actors {

void job_queue::insert(seq at, pending p, unit_index unit) {
  if (!p.job.best_effort)
    deadlines_.emplace(p.job.deadline, at);
  by_unit_[unit].insert(at);
  jobs_.emplace(at, entry{std::move(p), unit});
}

job_queue::entry job_queue::remove(seq at) {
  auto i = jobs_.find(at);
  entry out = std::move(i->second);
  jobs_.erase(i);
  if (!out.job.job.best_effort)
    deadlines_.erase({out.job.job.deadline, at});
  auto line = by_unit_.find(out.unit);
  line->second.erase(at);
  if (line->second.empty())
    by_unit_.erase(line);
  return out;
}

void job_queue::push(pending p, unit_index unit) {
  insert(++back_, std::move(p), unit);
}

void job_queue::push_front(pending p, unit_index unit) {
  insert(--front_, std::move(p), unit);
}

uint32_t job_queue::queued(unit_index unit) const {
  auto line = by_unit_.find(unit);
  return line == by_unit_.end() ? 0 : static_cast<uint32_t>(line->second.size());
}

std::optional<steady_time> job_queue::oldest_arrival(unit_index unit) const {
  auto line = by_unit_.find(unit);
  if (line == by_unit_.end())
    return std::nullopt;
  // Queue order is not arrival order (re-queued jobs, uploads that finish
  // out of order), so the whole line is read; reviews, its only reader, run
  // on a cadence, not per event.
  auto oldest = steady_time::max();
  for (auto at : line->second)
    oldest = std::min(oldest, jobs_.at(at).job.job.arrival);
  return oldest;
}

std::vector<unit_index> job_queue::units_waiting() const {
  std::vector<unit_index> out;
  out.reserve(by_unit_.size());
  for (const auto& [unit, line] : by_unit_)
    out.push_back(unit);
  std::sort(out.begin(), out.end()); // the same order on every run
  return out;
}

void job_queue::regroup(const std::function<unit_index(const infer_job&)>& unit_of) {
  by_unit_.clear();
  for (auto& [at, e] : jobs_) {
    e.unit = unit_of(e.job.job);
    by_unit_[e.unit].insert(at);
  }
}

void job_queue::expire(steady_time now) {
  while (!deadlines_.empty() && now > deadlines_.begin()->first) {
    auto e = remove(deadlines_.begin()->second);
    e.job.promise.deliver(
        make_error(ec::deadline_exceeded,
                   "model \"" + e.job.job.model + "\": the deadline passed in the queue"));
  }
}

void job_queue::fail_all(const caf::error& err) {
  for (auto& [at, e] : jobs_)
    e.job.promise.deliver(err);
  jobs_.clear();
  by_unit_.clear();
  deadlines_.clear();
}

std::vector<job_queue::seq> job_queue::candidates(const std::vector<unit_index>* units) const {
  std::vector<seq> out;
  if (units == nullptr) {
    out.reserve(jobs_.size());
    for (const auto& [at, e] : jobs_)
      out.push_back(at);
    return out;
  }
  for (auto u : *units)
    if (auto line = by_unit_.find(u); line != by_unit_.end())
      out.insert(out.end(), line->second.begin(), line->second.end());
  if (units->size() > 1)
    std::sort(out.begin(), out.end());
  return out;
}

job_queue::seq job_queue::pick(const slot& s, steady_time now,
                               const std::vector<seq>& among) const {
  auto waited_ms = [&](const pending& p) {
    return std::chrono::duration<double, std::milli>(now - p.job.arrival).count();
  };
  auto better = [&](const pending& a, const pending& b) {
    if (opts_.order == queue_order::fifo)
      return a.job.arrival < b.job.arrival;
    int pa = effective_priority(static_cast<int>(a.job.priority), waited_ms(a), opts_.aging);
    int pb = effective_priority(static_cast<int>(b.job.priority), waited_ms(b), opts_.aging);
    if (pa != pb)
      return pa > pb;
    // Saturated jobs run oldest first: that is what bounds their wait.
    if (saturated(static_cast<int>(a.job.priority), waited_ms(a), opts_.aging))
      return a.job.arrival < b.job.arrival;
    if (opts_.order == queue_order::reuse_aware) {
      bool ra = s.models.count(a.job.model) > 0;
      bool rb = s.models.count(b.job.model) > 0;
      if (ra != rb)
        return ra;
    }
    if (a.job.deadline != b.job.deadline)
      return a.job.deadline < b.job.deadline;
    return a.job.arrival < b.job.arrival;
  };
  const pending* best = nullptr;
  seq best_at = 0;
  for (auto at : among) {
    const auto& p = jobs_.at(at).job;
    if (best == nullptr || better(p, *best)) {
      best = &p;
      best_at = at;
    }
  }
  return best_at;
}

void job_queue::take_out(const std::vector<seq>& members, std::vector<pending>& out) {
  for (auto at : members)
    out.push_back(remove(at).job);
}

job_queue::pass_candidates job_queue::find_pass(const slot& s, seq lead_at,
                                                const std::vector<seq>& among) const {
  const auto& lead = jobs_.at(lead_at).job.job;
  if (lead.group)
    return {};
  auto ref_of = [](const infer_job& j) { return j.model + ":" + std::to_string(j.version); };
  for (const auto& plan : s.groups) {
    const auto* lead_member = plan->find(ref_of(lead));
    if (lead_member == nullptr)
      continue;
    std::vector<tensor_buffer> pass;
    add_to_pass(*plan, pass, {lead_member, &lead.inputs});
    pass_candidates out{plan, {lead_at}};
    for (auto at : among) {
      const auto& j = jobs_.at(at).job.job;
      const auto* member = at == lead_at || j.group ? nullptr : plan->find(ref_of(j));
      if (member == nullptr || !shares_pass(*plan, pass, {member, &j.inputs}))
        continue;
      add_to_pass(*plan, pass, {member, &j.inputs});
      out.members.push_back(at);
    }
    return out;
  }
  return {};
}

taken job_queue::take(const slot& s, steady_time now, steady_time& wake,
                      const std::vector<unit_index>* units) {
  taken out;
  auto among = candidates(units);
  if (among.empty())
    return out;
  auto first = pick(s, now, among);
  const auto& lead_entry = jobs_.at(first);
  const auto& lead = lead_entry.job.job;
  // May the lead wait a little for company (a batch, or a pass, that can
  // still grow)? Its deadline must allow it.
  auto ready_at = lead.arrival + opts_.max_queue_delay;
  bool may_wait = opts_.max_queue_delay.count() > 0 && now < ready_at &&
                  now + opts_.max_queue_delay < lead.deadline;
  // Requests for members of a group the executor holds that share an input
  // run in one pass of the group (one camera frame for several models). With
  // a queue delay, the pass waits for the members it lacks, as a batch does.
  if (auto pass = find_pass(s, first, among); pass.plan) {
    if (may_wait && pass.members.size() < pass.plan->members.size()) {
      wake = ready_at;
      return out;
    }
    if (pass.members.size() > 1) {
      out.group = pass.plan;
      take_out(pass.members, out.members);
      return out;
    }
  }
  // Gather the jobs that can share its batch, in queue order: jobs of one
  // model are jobs of one unit, so only the lead's line is read.
  std::vector<seq> members{first};
  int64_t rows = lead.inputs.empty() ? 1 : rows_of(lead.inputs.front());
  if (opts_.max_batch_rows > 1 && !lead.inputs.empty())
    for (auto at : by_unit_.at(lead_entry.unit)) {
      const auto& j = jobs_.at(at).job.job;
      if (at == first || j.model != lead.model || j.version != lead.version ||
          j.outputs != lead.outputs || j.group != lead.group || j.members != lead.members ||
          !batchable(j.inputs, lead.inputs))
        continue;
      auto r = rows_of(j.inputs.front());
      if (rows + r > static_cast<int64_t>(opts_.max_batch_rows))
        continue;
      rows += r;
      members.push_back(at);
    }
  // Wait a little for more, if allowed and the batch has room.
  if (may_wait && rows < static_cast<int64_t>(opts_.max_batch_rows)) {
    wake = ready_at;
    return out;
  }
  take_out(members, out.members);
  return out;
}

} // namespace tessera::actors
