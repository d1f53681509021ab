// Fused groups on any executor: a group's fused DAG (core's fused_plan) is
// loaded as one model under one residency lease, run in one pass for all or
// some members (only the sub-DAG those members need), and unloaded as a unit.
// Backends only provide model_executor::run_outputs; docs/fusion.md.
#pragma once

#include "tessera/backend/model_executor.hpp"
#include "tessera/core/fusion_plan.hpp"

#include <memory>
#include <string>
#include <vector>

namespace tessera::backend {

/// A fused group bound to resident parameters. Shared nodes are bound once;
/// the lease (owned by the DAG's loaded model) covers the union of its blobs.
class loaded_group {
public:
  loaded_group(fused_plan plan, std::shared_ptr<loaded_model> dag)
      : plan_(std::move(plan)), dag_(std::move(dag)) {
    // nop
  }

  const fused_plan& plan() const {
    return plan_;
  }

  const std::string& name() const {
    return plan_.name;
  }

  /// The loaded fused DAG (a model named after the group).
  const std::shared_ptr<loaded_model>& dag() const {
    return dag_;
  }

private:
  fused_plan plan_;
  std::shared_ptr<loaded_model> dag_;
};

/// One member's answer: its outputs in its own manifest's order.
struct member_outputs {
  /// "name:version".
  std::string model;
  std::vector<tensor_buffer> outputs;
};

/// Loads the group as one unit: one lease over the union of its members'
/// blobs (owner: the group's name), every distinct node bound once.
inline caf::expected<std::shared_ptr<loaded_group>>
load_group(model_executor& exec, const fused_plan& plan, load_report* report = nullptr) {
  auto dag = exec.load(plan.dag, report);
  if (!dag)
    return wrap(dag.error(), "group \"" + plan.name + "\"");
  return std::make_shared<loaded_group>(plan, std::move(*dag));
}

/// Runs the group once on the group inputs (in the order of plan().dag.inputs)
/// for `members` ("name" or "name:version"; all when empty), computing each
/// shared node once and no node that those members do not need. Answers come
/// in the order of `members` (canonical order when empty). Errors: those of
/// run(), and ec::unknown_model for a model that is not a member.
inline caf::expected<std::vector<member_outputs>>
run_group(model_executor& exec, const loaded_group& group, const std::vector<tensor_buffer>& inputs,
          const std::vector<std::string>& members = {}, run_stats* stats = nullptr) {
  const auto& plan = group.plan();
  auto wanted = plan.outputs_of(members);
  if (!wanted)
    return wanted.error();
  auto outs = exec.run_outputs(*group.dag(), inputs, *wanted, stats);
  if (!outs)
    return outs.error();
  std::vector<const fusion_member*> order;
  if (members.empty())
    for (const auto& m : plan.members)
      order.push_back(&m);
  for (const auto& name : members)
    order.push_back(plan.find(name));
  std::vector<member_outputs> answers;
  size_t next = 0;
  for (const auto* m : order) {
    member_outputs answer{m->model, {}};
    for (size_t i = 0; i < m->output_of.size(); ++i)
      answer.outputs.push_back(std::move((*outs)[next++]));
    answers.push_back(std::move(answer));
  }
  return answers;
}

/// Waits for the group's running batches and releases its lease. Blobs that
/// another resident model or group holds stay resident; the rest are cached
/// or freed as the residency options say.
inline void unload_group(model_executor& exec, const std::shared_ptr<loaded_group>& group) {
  if (group != nullptr)
    exec.unload(group->dag());
}

} // namespace tessera::backend
