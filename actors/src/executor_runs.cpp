// Running a job on an executor's units: a model held or streamed, a member's
// sub-DAG of its group, or a pass of a group (held or streamed); outputs are
// named and picked as the job asked.
#include "executor_units.hpp"

#include "tessera/core/fusion_pass.hpp"

#include <algorithm>
#include <set>

namespace tessera::actors {

namespace {

double ms_between(steady_time a, steady_time b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::vector<uint32_t> every_output(const model_manifest& m) {
  std::vector<uint32_t> all(m.outputs.size());
  for (uint32_t i = 0; i < all.size(); ++i)
    all[i] = i;
  return all;
}

/// The outputs of `m` a job asked for (all when it named none), by name.
named_outputs outputs_asked(const model_manifest& m, std::vector<tensor_buffer>& outs,
                            const std::vector<std::string>& asked) {
  named_outputs named;
  for (size_t i = 0; i < m.outputs.size() && i < outs.size(); ++i) {
    const auto& name = m.outputs[i].name;
    if (!asked.empty() && std::find(asked.begin(), asked.end(), name) == asked.end())
      continue;
    named.first.push_back(name);
    named.second.push_back(std::move(outs[i]));
  }
  return named;
}

} // namespace

caf::expected<std::vector<tensor_buffer>>
executor_units::run_streamed(const std::string& unit_key, const model_manifest& dag,
                             const std::vector<tensor_buffer>& inputs,
                             const std::vector<uint32_t>& wanted) {
  auto unit = streams->prepare(unit_key, dag);
  if (!unit)
    return unit.error();
  return streams->run(**unit, inputs, wanted, [this] {
    if (!swap_out_one())
      return false;
    deps->residency->drop_cached();
    return true;
  });
}

dag_runner executor_units::streamed_runner(const std::string& unit_key, const model_manifest& dag) {
  return [this, unit_key, &dag](const std::vector<tensor_buffer>& in,
                                const std::vector<uint32_t>& wanted) {
    return run_streamed(unit_key, dag, in, wanted);
  };
}

void executor_units::describe_holdings(infer_outcome& r) const {
  std::set<std::string> names;
  for (const auto& [k, h] : loaded)
    names.insert(h.model->manifest().name);
  for (const auto& [n, g] : groups) {
    names.insert(n);
    for (const auto& m : g.plan->members)
      names.insert(m.model.substr(0, m.model.rfind(':')));
    r.groups.push_back(g.plan);
  }
  r.held.assign(names.begin(), names.end());
  if (deps->residency != nullptr) { // free memory, for placement
    auto device = deps->residency->stats().device;
    auto used = device.used_bytes + device.reserved_bytes;
    r.free_bytes = device.budget_bytes > used ? device.budget_bytes - used : 0;
  }
}

dag_runner executor_units::resident_runner(const held_group& g) {
  return [this, &g](const std::vector<tensor_buffer>& in, const std::vector<uint32_t>& wanted) {
    return deps->exec->run_outputs(*g.group->dag(), in, wanted);
  };
}

caf::expected<named_outputs> executor_units::run_member(const fused_plan& plan,
                                                        const dag_runner& run_dag,
                                                        const fusion_member& member,
                                                        const infer_job& job) {
  auto inputs = group_inputs_for(plan, {member_request{&member, &job.inputs}});
  if (!inputs)
    return inputs.error();
  auto outs = run_dag(*inputs, member.output_of);
  if (!outs)
    return outs.error();
  std::vector<std::string> dag_names;
  for (auto idx : member.output_of)
    dag_names.push_back(plan.dag.outputs[idx].name);
  named_outputs named;
  member_outputs_of(member, dag_names, *outs, job.outputs, named.first, named.second);
  return named;
}

caf::expected<named_outputs>
executor_units::run_pass(const fused_plan& plan, const dag_runner& run_dag, const infer_job& job) {
  auto wanted = plan.outputs_of(job.members);
  if (!wanted)
    return wrap(wanted.error(), "group \"" + plan.name + "\"");
  auto outs = run_dag(job.inputs, *wanted);
  if (!outs)
    return outs.error();
  std::set<std::string> members(job.members.begin(), job.members.end());
  if ((job.members.empty() ? plan.members.size() : members.size()) > 1)
    ++fused_passes;
  named_outputs named;
  for (size_t i = 0; i < wanted->size(); ++i) {
    const auto& name = plan.dag.outputs[(*wanted)[i]].name;
    if (!job.outputs.empty() &&
        std::find(job.outputs.begin(), job.outputs.end(), name) == job.outputs.end())
      continue;
    named.first.push_back(name);
    named.second.push_back((*outs)[i]);
  }
  return named;
}

caf::expected<named_outputs> executor_units::run_group_job(const group_definition& def,
                                                           const infer_job& job, infer_outcome& r,
                                                           steady_time& loaded_at) {
  load_outcome lo;
  auto g = ensure_group(def, &lo);
  r.loaded_bytes = lo.loaded_bytes;
  loaded_at = std::chrono::steady_clock::now();
  if (g) {
    r.version = (*g)->plan->dag.version;
    return run_pass(*(*g)->plan, resident_runner(**g), job);
  }
  if (!stream_instead(g.error()))
    return wrap(g.error(), "group \"" + def.name + "\"");
  auto plan = plan_of(def);
  if (!plan)
    return wrap(plan.error(), "group \"" + def.name + "\"");
  r.version = (*plan)->dag.version;
  auto named = run_pass(**plan, streamed_runner(group_key(def.name), (*plan)->dag), job);
  if (!named)
    return wrap(named.error(), "group \"" + def.name + "\"");
  return named;
}

caf::expected<named_outputs> executor_units::run_model_job(const infer_job& job, load_outcome& lo,
                                                           steady_time& loaded_at) {
  auto model = ensure_loaded(job.model, job.version, &lo);
  loaded_at = std::chrono::steady_clock::now();
  if (model) {
    auto out = deps->exec->run(**model, job.inputs);
    if (!out)
      return out.error();
    return outputs_asked((*model)->manifest(), *out, job.outputs);
  }
  if (!stream_instead(model.error()))
    return model.error();
  auto m = manifest(job.model, job.version);
  if (!m)
    return m.error();
  lo.model = m->name;
  lo.version = m->version;
  auto out = run_streamed(key(*m), *m, job.inputs, every_output(*m));
  if (!out)
    return out.error();
  return outputs_asked(*m, *out, job.outputs);
}

caf::result<infer_outcome> executor_units::run(const infer_job& job) {
  auto start = std::chrono::steady_clock::now();
  if (start > job.deadline && !job.best_effort)
    return make_error(ec::deadline_exceeded,
                      "model \"" + job.model + "\": the deadline passed while queued");
  infer_outcome r;
  caf::expected<named_outputs> named = named_outputs{};
  auto loaded_at = start;
  if (const auto* def = group_named(job)) {
    named = run_group_job(*def, job, r, loaded_at);
    r.model = def->name;
  } else if (job.group) {
    return make_error(ec::unknown_model, "no group named \"" + job.model + "\"");
  } else {
    load_outcome lo;
    auto version = job.version;
    if (version == 0) // the gateway resolves versions; other callers may not
      if (auto m = manifest(job.model, 0))
        version = m->version;
    auto ref = job.model + ":" + std::to_string(version);
    auto g = group_for(ref, &lo);
    if (!g)
      return g.error();
    loaded_at = std::chrono::steady_clock::now();
    if (*g != nullptr) {
      named = run_member(*(*g)->plan, resident_runner(**g), *(*g)->plan->find(ref), job);
      r.model = job.model;
      r.version = version;
    } else {
      named = run_model_job(job, lo, loaded_at);
      r.model = lo.model;
      r.version = lo.version;
    }
    r.loaded_bytes = lo.loaded_bytes;
  }
  if (!named)
    return named.error();
  auto done = std::chrono::steady_clock::now();
  r.names = std::move(named->first);
  r.tensors = std::move(named->second);
  r.executor = deps->name;
  describe_holdings(r);
  r.queue_ms = ms_between(job.arrival, start);
  r.load_ms = ms_between(start, loaded_at);
  r.run_ms = ms_between(loaded_at, done);
  ++served;
  return r;
}

} // namespace tessera::actors
