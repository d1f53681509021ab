#include "scheduler_queue.hpp"

#include "tessera/core/batching.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/fusion_pass.hpp"

#include <algorithm>
#include <functional>

namespace tessera::actors {

void job_queue::expire(steady_time now) {
  for (auto i = queue_.begin(); i != queue_.end();) {
    if (now > i->job.deadline && !i->job.best_effort) {
      i->promise.deliver(make_error(ec::deadline_exceeded,
                                    "model \"" + i->job.model + "\": the deadline passed in the queue"));
      i = queue_.erase(i);
    } else {
      ++i;
    }
  }
}

void job_queue::fail_all(const caf::error& err) {
  for (auto& p : queue_)
    p.promise.deliver(err);
  queue_.clear();
}

std::deque<pending>::iterator job_queue::pick(const slot& s, steady_time now, const job_filter& accept) {
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
  auto best = queue_.end();
  for (auto i = queue_.begin(); i != queue_.end(); ++i)
    if ((!accept || accept(i->job)) && (best == queue_.end() || better(*i, *best)))
      best = i;
  return best;
}

void job_queue::take_out(std::vector<size_t> indices, std::vector<pending>& out) {
  for (auto i : indices)
    out.push_back(std::move(queue_[i]));
  // Erase from the highest index down, so the lower indices stay valid.
  std::sort(indices.begin(), indices.end(), std::greater<size_t>{});
  for (auto i : indices)
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
}

job_queue::pass_candidates job_queue::find_pass(const slot& s, size_t first, const job_filter& accept) const {
  const auto& lead = queue_[first].job;
  if (lead.group)
    return {};
  auto ref_of = [](const infer_job& j) { return j.model + ":" + std::to_string(j.version); };
  for (const auto& plan : s.groups) {
    const auto* lead_member = plan->find(ref_of(lead));
    if (lead_member == nullptr)
      continue;
    std::vector<tensor_buffer> pass;
    add_to_pass(*plan, pass, {lead_member, &lead.inputs});
    pass_candidates out{plan, {first}};
    for (size_t i = 0; i < queue_.size(); ++i) {
      const auto& j = queue_[i].job;
      const auto* member = i == first || j.group || (accept && !accept(j)) ? nullptr : plan->find(ref_of(j));
      if (member == nullptr || !shares_pass(*plan, pass, {member, &j.inputs}))
        continue;
      add_to_pass(*plan, pass, {member, &j.inputs});
      out.indices.push_back(i);
    }
    return out;
  }
  return {};
}

taken job_queue::take(const slot& s, steady_time now, steady_time& wake, const job_filter& accept) {
  taken out;
  auto first_it = pick(s, now, accept);
  if (first_it == queue_.end())
    return out;
  auto first = static_cast<size_t>(std::distance(queue_.begin(), first_it));
  const auto& lead = queue_[first].job;
  // May the lead wait a little for company (a batch, or a pass, that can
  // still grow)? Its deadline must allow it.
  auto ready_at = lead.arrival + opts_.max_queue_delay;
  bool may_wait = opts_.max_queue_delay.count() > 0 && now < ready_at && now + opts_.max_queue_delay < lead.deadline;
  // Requests for members of a group the executor holds that share an input
  // run in one pass of the group (one camera frame for several models). With
  // a queue delay, the pass waits for the members it lacks, as a batch does.
  if (auto pass = find_pass(s, first, accept); pass.plan) {
    if (may_wait && pass.indices.size() < pass.plan->members.size()) {
      wake = ready_at;
      return out;
    }
    if (pass.indices.size() > 1) {
      out.group = pass.plan;
      take_out(std::move(pass.indices), out.members);
      return out;
    }
  }
  // Gather the jobs that can share its batch, in queue order.
  std::vector<size_t> members{first};
  int64_t rows = lead.inputs.empty() ? 1 : rows_of(lead.inputs.front());
  for (size_t i = 0; i < queue_.size() && opts_.max_batch_rows > 1; ++i) {
    const auto& j = queue_[i].job;
    if (i == first || j.model != lead.model || j.version != lead.version || j.outputs != lead.outputs
        || j.group != lead.group || j.members != lead.members || lead.inputs.empty()
        || !batchable(j.inputs, lead.inputs) || (accept && !accept(j)))
      continue;
    auto r = rows_of(j.inputs.front());
    if (rows + r > static_cast<int64_t>(opts_.max_batch_rows))
      continue;
    rows += r;
    members.push_back(i);
  }
  // Wait a little for more, if allowed and the batch has room.
  if (may_wait && rows < static_cast<int64_t>(opts_.max_batch_rows)) {
    wake = ready_at;
    return out;
  }
  take_out(std::move(members), out.members);
  return out;
}

} // namespace tessera::actors
