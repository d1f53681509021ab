#include "executor_units.hpp"

#include "tessera/core/fusion_pass.hpp"

#include <algorithm>
#include <set>

namespace tessera::actors {

caf::error executor_units::check_holdable(const std::string& what, uint64_t bytes) const {
  if (bytes <= device_budget())
    return {};
  return make_error(ec::out_of_memory,
                    what + " needs " + std::to_string(bytes) +
                        " bytes resident, more than the device budget of " +
                        std::to_string(device_budget()) + " bytes" +
                        (streams->available() ? ""
                                              : "; this node does not stream units block by block "
                                                "(its device tier cannot, or its key streaming is "
                                                "false)"));
}

bool executor_units::swap_out_one() {
  auto model = loaded.end();
  for (auto i = loaded.begin(); i != loaded.end(); ++i)
    if (model == loaded.end() || i->second.last_used < model->second.last_used)
      model = i;
  auto group = groups.end();
  for (auto i = groups.begin(); i != groups.end(); ++i)
    if (group == groups.end() || i->second.last_used < group->second.last_used)
      group = i;
  if (model == loaded.end() && group == groups.end())
    return false;
  if (group != groups.end() &&
      (model == loaded.end() || group->second.last_used < model->second.last_used)) {
    backend::unload_group(*deps->exec, group->second.group);
    groups.erase(group);
  } else {
    deps->exec->unload(model->second.model);
    loaded.erase(model);
  }
  ++swaps_out;
  return true;
}

void executor_units::sync_groups(catalog_ptr next) {
  catalog = std::move(next);
  for (auto i = groups.begin(); i != groups.end();) {
    const auto* def = defined_group(i->first);
    std::vector<std::string> members;
    for (const auto& m : i->second.plan->members)
      members.push_back(m.model);
    auto wanted = def == nullptr ? std::vector<std::string>{} : def->models;
    std::sort(wanted.begin(), wanted.end());
    if (def != nullptr && wanted == members) {
      ++i;
      continue;
    }
    backend::unload_group(*deps->exec, i->second.group);
    i = groups.erase(i);
  }
}

caf::expected<model_manifest> executor_units::manifest(const std::string& name,
                                                       uint32_t version) const {
  auto m = catalog->get(name, version);
  if (!m && code_of(m.error()) == ec::unknown_model && deps->store != nullptr)
    return deps->store->manifests().get(name, version);
  return m;
}

const group_definition* executor_units::defined_group(const std::string& name) const {
  return deps->groups ? catalog->group(name) : nullptr;
}

caf::expected<std::shared_ptr<const fused_plan>>
executor_units::plan_of(const group_definition& def) const {
  return catalog->plan(def.name);
}

void executor_units::count_load(const backend::load_report& report, load_outcome* out) {
  ++loads.loaded;
  loads.shared_bytes += report.bytes - report.bytes_read;
  loads.read_bytes += report.bytes_read;
  loads.duration.observe(report.elapsed_ms);
  if (out != nullptr) {
    out->loaded_bytes = report.bytes_read;
    out->reused_bytes = report.bytes - report.bytes_read;
  }
}

executor_units::held_group* executor_units::group_holding(const std::string& ref) {
  for (auto& [n, g] : groups)
    if (g.plan->find(ref) != nullptr)
      return &g;
  return nullptr;
}

caf::expected<executor_units::held_group*> executor_units::ensure_group(const group_definition& def,
                                                                        load_outcome* out) {
  if (auto i = groups.find(def.name); i != groups.end()) {
    i->second.last_used = ++tick;
    ++loads.held;
    if (out != nullptr)
      out->reused_bytes = i->second.plan->savings.fused_bytes;
    return &i->second;
  }
  auto plan = plan_of(def);
  if (!plan)
    return plan.error();
  auto shared = *plan;
  if (auto err = check_holdable("group \"" + def.name + "\"", shared->savings.fused_bytes))
    return err;
  mark(key(shared->dag), model_state::loading);
  for (;;) {
    backend::load_report report;
    auto g = backend::load_group(*deps->exec, *shared, &report);
    if (g) {
      count_load(report, out);
      // Members held on their own (loaded before the group was defined) are
      // served by the group from now on: one unit holds them.
      for (auto i = loaded.begin(); i != loaded.end();)
        if (shared->find(i->first) != nullptr) {
          deps->exec->unload(i->second.model);
          i = loaded.erase(i);
        } else {
          ++i;
        }
      auto& h = groups[def.name];
      h = held_group{std::move(*g), shared, ++tick};
      return &h;
    }
    if (code_of(g.error()) != ec::out_of_memory || !swap_out_one()) {
      mark_failed(key(shared->dag), g.error());
      return g.error();
    }
    deps->residency->drop_cached();
  }
}

caf::expected<std::shared_ptr<backend::loaded_model>>
executor_units::ensure_loaded(const std::string& name, uint32_t version, load_outcome* out) {
  // The common case, a held model asked for by its exact version, needs no
  // manifest read (the gateway resolves versions before jobs get here).
  if (version != 0)
    if (auto i = loaded.find(name + ":" + std::to_string(version)); i != loaded.end()) {
      i->second.last_used = ++tick;
      ++loads.held;
      if (out != nullptr) {
        const auto& m = i->second.model->manifest();
        out->model = m.name;
        out->version = m.version;
        out->reused_bytes = parameter_bytes(m);
      }
      return i->second.model;
    }
  auto m = manifest(name, version);
  if (!m)
    return m.error();
  auto k = key(*m);
  if (out != nullptr) {
    out->model = m->name;
    out->version = m->version;
  }
  if (auto i = loaded.find(k); i != loaded.end()) {
    i->second.last_used = ++tick;
    ++loads.held;
    if (out != nullptr)
      out->reused_bytes = parameter_bytes(*m);
    return i->second.model;
  }
  if (auto err = check_holdable("model \"" + m->name + "\"", parameter_bytes(*m)))
    return err;
  mark(k, model_state::loading);
  for (;;) {
    backend::load_report report;
    auto model = deps->exec->load(*m, &report);
    if (model) {
      loaded[k] = held{*model, ++tick};
      count_load(report, out);
      return *model;
    }
    // Full memory: make room from this executor's own idle units, then retry.
    if (code_of(model.error()) != ec::out_of_memory || !swap_out_one()) {
      mark_failed(k, model.error());
      return model.error();
    }
    deps->residency->drop_cached();
  }
}

caf::expected<executor_units::held_group*> executor_units::group_for(const std::string& ref,
                                                                     load_outcome* out) {
  if (auto* g = group_holding(ref)) {
    g->last_used = ++tick;
    ++loads.held;
    return g;
  }
  const auto* def = deps->groups ? catalog->group_containing(ref) : nullptr;
  if (def == nullptr)
    return static_cast<held_group*>(nullptr);
  auto g = ensure_group(*def, out);
  if (!g && code_of(g.error()) == ec::out_of_memory)
    return static_cast<held_group*>(nullptr);
  return g;
}

const group_definition* executor_units::group_named(const infer_job& job) {
  const auto* def = defined_group(job.model);
  if (def == nullptr || job.group)
    return def;
  auto m = manifest(job.model, job.version);
  return !m && code_of(m.error()) == ec::unknown_model ? def : nullptr;
}

caf::expected<load_outcome> executor_units::load(const std::string& name, uint32_t version) {
  load_outcome out;
  auto m = manifest(name, version);
  if (!m) {
    const auto* def = defined_group(name);
    if (def == nullptr || code_of(m.error()) != ec::unknown_model)
      return m.error();
    out.model = name;
    auto g = ensure_group(*def, &out);
    if (g) {
      out.version = (*g)->plan->dag.version;
      return out;
    }
    if (!stream_instead(g.error()))
      return wrap(g.error(), "group \"" + name + "\"");
    auto plan = plan_of(*def);
    if (!plan)
      return wrap(plan.error(), "group \"" + name + "\"");
    auto unit = streams->prepare(group_key(name), (*plan)->dag);
    if (!unit)
      return wrap(unit.error(), "group \"" + name + "\"");
    out.version = (*plan)->dag.version;
    return out;
  }
  out.model = m->name;
  out.version = m->version;
  auto g = group_for(key(*m), &out);
  if (!g)
    return g.error();
  if (*g != nullptr)
    return out;
  auto model = ensure_loaded(m->name, m->version, &out);
  if (!model && stream_instead(model.error())) {
    if (auto unit = streams->prepare(key(*m), *m); !unit)
      return unit.error();
    return out;
  }
  if (!model)
    return model.error();
  return out;
}

bool executor_units::unload(const std::string& name, uint32_t version) {
  bool any = streams->forget(
      [&](const std::string& k) { return k == group_key(name) || is_ref_of(k, name, version); });
  if (auto i = groups.find(name); i != groups.end()) {
    mark(key(i->second.plan->dag), model_state::unloading);
    backend::unload_group(*deps->exec, i->second.group);
    groups.erase(i);
    return true;
  }
  for (auto i = loaded.begin(); i != loaded.end();) {
    const auto& m = i->second.model->manifest();
    if (m.name == name && (version == 0 || m.version == version)) {
      mark(i->first, model_state::unloading);
      deps->exec->unload(i->second.model);
      i = loaded.erase(i);
      any = true;
    } else {
      ++i;
    }
  }
  for (auto i = groups.begin(); i != groups.end();) {
    bool member =
        std::any_of(i->second.plan->members.begin(), i->second.plan->members.end(),
                    [&](const fusion_member& f) { return is_ref_of(f.model, name, version); });
    if (member) {
      mark(key(i->second.plan->dag), model_state::unloading);
      backend::unload_group(*deps->exec, i->second.group);
      i = groups.erase(i);
      any = true;
    } else {
      ++i;
    }
  }
  return any;
}

executor_state executor_units::state() const {
  executor_state s;
  s.name = deps->name;
  std::set<std::string> keys;
  for (const auto& [k, h] : loaded)
    keys.insert(k);
  for (const auto& [n, g] : groups) {
    s.groups.push_back(n);
    keys.insert(key(g.plan->dag));
    for (const auto& m : g.plan->members)
      keys.insert(m.model);
  }
  s.loaded.assign(keys.begin(), keys.end());
  s.served = served;
  s.swaps_out = swaps_out;
  s.swaps_out_pressure = swaps_out_pressure;
  s.loads = loads;
  s.fused_passes = fused_passes;
  s.streamed = streams->prepared();
  s.streams = streams->totals();
  return s;
}

void executor_units::mark(const std::string& ref, model_state s) const {
  if (deps->states != nullptr)
    deps->states->begin(deps->name, ref, s);
}

void executor_units::mark_failed(const std::string& ref, const caf::error& err) const {
  if (deps->states != nullptr && code_of(err) != ec::out_of_memory)
    deps->states->failed(deps->name, ref, describe(err));
}

void executor_units::publish() const {
  if (deps->states == nullptr && deps->board == nullptr)
    return;
  auto s = state();
  if (deps->states != nullptr)
    deps->states->holds(deps->name, s.loaded);
  if (deps->board != nullptr)
    deps->board->publish(std::move(s));
}

void executor_units::relieve(pressure_level level) {
  if (level < pressure_level::high)
    return;
  auto& mgr = *deps->residency;
  const auto& marks = mgr.options().marks;
  // Streams' bytes are left out: they keep within the room the rest leaves
  // them, and swapping resident units out would not shrink them.
  auto over = [&] {
    auto s = mgr.stats();
    auto used = s.device.used_bytes + s.device.reserved_bytes;
    if (deps->stream)
      used -= std::min(used, deps->stream->leased_bytes());
    return bytes_above_low_watermark(used, s.device.budget_bytes, marks) > 0;
  };
  if (over())
    mgr.drop_cached();
  while (over() && swap_out_one()) {
    ++swaps_out_pressure;
    mgr.drop_cached();
  }
}

} // namespace tessera::actors
