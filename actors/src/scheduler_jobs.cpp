#include "scheduler_jobs.hpp"

#include "tessera/core/batching.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/fusion_pass.hpp"

#include <algorithm>

namespace tessera::actors {

// Stacks the members' inputs into one job.
caf::expected<infer_job> combine(const std::vector<pending>& members) {
  infer_job job = members.front().job;
  if (members.size() == 1)
    return job;
  for (size_t k = 0; k < job.inputs.size(); ++k) {
    std::vector<tensor_buffer> parts;
    for (const auto& m : members)
      parts.push_back(m.job.inputs[k]);
    auto whole = concat_rows(parts);
    if (!whole)
      return whole.error();
    job.inputs[k] = std::move(*whole);
  }
  for (const auto& m : members) {
    job.arrival = std::min(job.arrival, m.job.arrival);
    job.deadline = std::min(job.deadline, m.job.deadline);
  }
  return job;
}

// Hands each member its rows of the batch's outputs.
void deliver_split(std::vector<pending>& members, infer_outcome& out) {
  if (members.size() == 1) {
    members.front().promise.deliver(std::move(out));
    return;
  }
  std::vector<int64_t> rows;
  for (const auto& m : members)
    rows.push_back(rows_of(m.job.inputs.front()));
  std::vector<infer_outcome> parts(members.size(), out);
  for (auto& p : parts)
    p.tensors.clear();
  for (const auto& t : out.tensors) {
    auto pieces = split_rows(t, rows);
    if (!pieces) {
      for (auto& m : members)
        m.promise.deliver(pieces.error());
      return;
    }
    for (size_t i = 0; i < members.size(); ++i)
      parts[i].tensors.push_back(std::move((*pieces)[i]));
  }
  for (size_t i = 0; i < members.size(); ++i)
    members[i].promise.deliver(std::move(parts[i]));
}

// One job that runs a group pass for every member the pending jobs ask.
caf::expected<infer_job> combine_pass(const fused_plan& plan, const std::vector<pending>& members) {
  infer_job job;
  const auto& lead = members.front().job;
  job.ticket = lead.ticket;
  job.trace_id = lead.trace_id;
  job.model = plan.name;
  job.group = true;
  job.priority = lead.priority;
  job.arrival = lead.arrival;
  job.best_effort = true;
  std::vector<member_request> requests;
  for (const auto& m : members) {
    auto ref = m.job.model + ":" + std::to_string(m.job.version);
    requests.push_back({plan.find(ref), &m.job.inputs});
    if (std::find(job.members.begin(), job.members.end(), ref) == job.members.end())
      job.members.push_back(ref);
    job.priority = std::max(job.priority, m.job.priority);
    job.arrival = std::min(job.arrival, m.job.arrival);
    // The pass keeps the earliest deadline of the jobs that hold to theirs.
    if (!m.job.best_effort)
      job.deadline = std::min(job.deadline, m.job.deadline);
    job.best_effort = job.best_effort && m.job.best_effort;
  }
  auto inputs = group_inputs_for(plan, requests);
  if (!inputs)
    return inputs.error();
  job.inputs = std::move(*inputs);
  for (const auto& in : plan.dag.inputs)
    job.input_names.push_back(in.name);
  return job;
}

// Hands each pending job its member's outputs of a group pass, under its own
// output names.
void deliver_pass(const fused_plan& plan, std::vector<pending>& members, const infer_outcome& out) {
  for (auto& m : members) {
    infer_outcome part = out; // timings and what the executor holds
    part.model = m.job.model;
    part.version = m.job.version;
    part.names.clear();
    part.tensors.clear();
    member_outputs_of(*plan.find(m.job.model + ":" + std::to_string(m.job.version)), out.names,
                      out.tensors, m.job.outputs, part.names, part.tensors);
    m.promise.deliver(std::move(part));
  }
}

} // namespace tessera::actors
