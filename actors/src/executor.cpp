#include "tessera/actors/executor.hpp"

#include "group_directory.hpp"
#include "tessera/backend/fused_group.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/fusion_pass.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace tessera::actors {

namespace {

double ms_between(steady_time a, steady_time b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

/// Output names and tensors of one job, in the order they are answered.
using named_outputs = std::pair<std::vector<std::string>, std::vector<tensor_buffer>>;

struct executor_data {
  struct held {
    std::shared_ptr<backend::loaded_model> model;
    uint64_t last_used = 0;
  };

  /// A fused group: loaded, run and swapped out as one unit (docs/fusion.md).
  struct held_group {
    std::shared_ptr<backend::loaded_group> group;
    std::shared_ptr<const fused_plan> plan;
    uint64_t last_used = 0;
  };

  std::shared_ptr<executor_deps> deps;
  std::map<std::string, held> loaded;           // "name:version"
  std::map<std::string, held_group> groups;     // by group name
  std::unique_ptr<group_directory> directory;   // the store's group definitions
  uint64_t tick = 0;
  uint64_t served = 0;
  uint64_t swaps_out = 0;
  uint64_t swaps_out_pressure = 0;
  uint64_t fused_passes = 0;
  load_totals loads;

  static inline const char* name = "executor";

  static std::string key(const model_manifest& m) {
    return m.name + ":" + std::to_string(m.version);
  }

  /// Unloads the least recently used unit, a model or a whole group; false
  /// when none is loaded. Blobs another unit holds stay resident (each unit
  /// holds its own residency lease).
  bool swap_out_one() {
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
    if (group != groups.end() && (model == loaded.end() || group->second.last_used < model->second.last_used)) {
      backend::unload_group(*deps->exec, group->second.group);
      groups.erase(group);
    } else {
      deps->exec->unload(model->second.model);
      loaded.erase(model);
    }
    ++swaps_out;
    return true;
  }

  /// Reads group definitions again when they changed, and unloads held groups
  /// whose definition went or changed (work brings the new one in).
  void sync_groups() {
    if (deps->store == nullptr)
      return;
    if (directory == nullptr)
      directory = std::make_unique<group_directory>(deps->store->root());
    if (!directory->refresh())
      return;
    for (auto i = groups.begin(); i != groups.end();) {
      const auto* def = directory->find(i->first);
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

  void count_load(const backend::load_report& report, load_outcome* out) {
    ++loads.loaded;
    loads.shared_bytes += report.bytes - report.bytes_read;
    loads.read_bytes += report.bytes_read;
    loads.duration.observe(report.elapsed_ms);
    if (out != nullptr) {
      out->loaded_bytes = report.bytes_read;
      out->reused_bytes = report.bytes - report.bytes_read;
    }
  }

  /// The held group that has `ref` ("name:version") as a member, or null.
  held_group* group_holding(const std::string& ref) {
    for (auto& [n, g] : groups)
      if (g.plan->find(ref) != nullptr)
        return &g;
    return nullptr;
  }

  /// Brings a defined group in as one unit (one lease over the union of its
  /// members' blobs), swapping out this executor's least recently used units
  /// while memory is full.
  caf::expected<held_group*> ensure_group(const group_definition& def, load_outcome* out) {
    if (auto i = groups.find(def.name); i != groups.end()) {
      i->second.last_used = ++tick;
      ++loads.held;
      if (out != nullptr)
        out->reused_bytes = i->second.plan->savings.fused_bytes;
      return &i->second;
    }
    auto plan = store::plan_group(*deps->store, def);
    if (!plan)
      return plan.error();
    auto shared = std::make_shared<const fused_plan>(std::move(*plan));
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
      if (code_of(g.error()) != ec::out_of_memory || !swap_out_one())
        return g.error();
      deps->residency->drop_cached();
    }
  }

  caf::expected<std::shared_ptr<backend::loaded_model>>
  ensure_loaded(const std::string& name, uint32_t version, load_outcome* out) {
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
    auto m = deps->store->manifests().get(name, version);
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
    for (;;) {
      backend::load_report report;
      auto model = deps->exec->load(*m, &report);
      if (model) {
        loaded[k] = held{*model, ++tick};
        count_load(report, out);
        return *model;
      }
      // Full memory: make room from this executor's own idle units, then retry.
      if (code_of(model.error()) != ec::out_of_memory || !swap_out_one())
        return model.error();
      deps->residency->drop_cached();
    }
  }

  /// The group that serves `ref`: one held, else the first defined group that
  /// lists it, loaded as a unit. Null when no group lists it, or when its
  /// group cannot fit even with everything else swapped out (the model then
  /// runs on its own).
  caf::expected<held_group*> group_for(const std::string& ref, load_outcome* out) {
    if (auto* g = group_holding(ref)) {
      g->last_used = ++tick;
      ++loads.held;
      return g;
    }
    const auto* def = directory == nullptr ? nullptr : directory->containing(ref);
    if (def == nullptr)
      return static_cast<held_group*>(nullptr);
    auto g = ensure_group(*def, out);
    if (!g && code_of(g.error()) == ec::out_of_memory)
      return static_cast<held_group*>(nullptr);
    return g;
  }

  /// The group named by a job: `job.group`, or a name that is a defined group
  /// and no model (as the gateway sends requests addressed to a group).
  const group_definition* group_named(const infer_job& job) {
    if (directory == nullptr)
      return nullptr;
    const auto* def = directory->find(job.model);
    if (def == nullptr || job.group)
      return def;
    auto m = deps->store->manifests().get(job.model, job.version);
    return !m && code_of(m.error()) == ec::unknown_model ? def : nullptr;
  }

  void describe_holdings(infer_outcome& r) const {
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

  // One member's request from its loaded group: only that member's sub-DAG runs.
  caf::expected<named_outputs> run_member(const held_group& g, const fusion_member& member, const infer_job& job) {
    auto inputs = group_inputs_for(*g.plan, {member_request{&member, &job.inputs}});
    if (!inputs)
      return inputs.error();
    auto outs = deps->exec->run_outputs(*g.group->dag(), *inputs, member.output_of);
    if (!outs)
      return outs.error();
    std::vector<std::string> dag_names;
    for (auto idx : member.output_of)
      dag_names.push_back(g.plan->dag.outputs[idx].name);
    named_outputs named;
    member_outputs_of(member, dag_names, *outs, job.outputs, named.first, named.second);
    return named;
  }

  // A pass of a group for some members (all when none are named): outputs are
  // named as the fused DAG names them, "member/output".
  caf::expected<named_outputs> run_pass(const held_group& g, const infer_job& job) {
    auto wanted = g.plan->outputs_of(job.members);
    if (!wanted)
      return wrap(wanted.error(), "group \"" + g.plan->name + "\"");
    auto outs = deps->exec->run_outputs(*g.group->dag(), job.inputs, *wanted);
    if (!outs)
      return outs.error();
    std::set<std::string> members(job.members.begin(), job.members.end());
    if ((job.members.empty() ? g.plan->members.size() : members.size()) > 1)
      ++fused_passes;
    named_outputs named;
    for (size_t i = 0; i < wanted->size(); ++i) {
      const auto& name = g.plan->dag.outputs[(*wanted)[i]].name;
      if (!job.outputs.empty() && std::find(job.outputs.begin(), job.outputs.end(), name) == job.outputs.end())
        continue;
      named.first.push_back(name);
      named.second.push_back((*outs)[i]);
    }
    return named;
  }

  caf::result<infer_outcome> run(const infer_job& job) {
    auto start = std::chrono::steady_clock::now();
    if (start > job.deadline && !job.best_effort)
      return make_error(ec::deadline_exceeded, "model \"" + job.model + "\": the deadline passed while queued");
    sync_groups();
    infer_outcome r;
    caf::expected<named_outputs> named = named_outputs{};
    auto loaded_at = start;
    if (const auto* def = group_named(job)) {
      auto g = ensure_group(*def, nullptr);
      if (!g)
        return wrap(g.error(), "group \"" + def->name + "\"");
      loaded_at = std::chrono::steady_clock::now();
      named = run_pass(**g, job);
      r.model = def->name;
      r.version = (*g)->plan->dag.version;
    } else if (job.group) {
      return make_error(ec::unknown_model, "no group named \"" + job.model + "\"");
    } else {
      load_outcome lo;
      auto version = job.version;
      if (version == 0) // the gateway resolves versions; other callers may not
        if (auto m = deps->store->manifests().get(job.model, 0))
          version = m->version;
      auto ref = job.model + ":" + std::to_string(version);
      auto g = group_for(ref, &lo);
      if (!g)
        return g.error();
      loaded_at = std::chrono::steady_clock::now();
      if (*g != nullptr) {
        named = run_member(**g, *(*g)->plan->find(ref), job);
        r.model = job.model;
        r.version = version;
      } else {
        auto model = ensure_loaded(job.model, job.version, &lo);
        if (!model)
          return model.error();
        loaded_at = std::chrono::steady_clock::now();
        auto out = deps->exec->run(**model, job.inputs);
        if (!out)
          return out.error();
        const auto& m = (*model)->manifest();
        for (size_t i = 0; i < m.outputs.size() && i < out->size(); ++i) {
          const auto& name = m.outputs[i].name;
          bool wanted = job.outputs.empty()
                        || std::find(job.outputs.begin(), job.outputs.end(), name) != job.outputs.end();
          if (!wanted)
            continue;
          named->first.push_back(name);
          named->second.push_back((*out)[i]);
        }
        r.model = lo.model;
        r.version = lo.version;
      }
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

  /// A load asked by name: a group by its name; a member of a defined group
  /// brings its group in (the unit), unless the group cannot fit.
  caf::expected<load_outcome> load(const std::string& name, uint32_t version) {
    sync_groups();
    load_outcome out;
    auto m = deps->store->manifests().get(name, version);
    if (!m) {
      const auto* def = directory == nullptr ? nullptr : directory->find(name);
      if (def == nullptr || code_of(m.error()) != ec::unknown_model)
        return m.error();
      auto g = ensure_group(*def, &out);
      if (!g)
        return wrap(g.error(), "group \"" + name + "\"");
      out.model = name;
      out.version = (*g)->plan->dag.version;
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
    if (!model)
      return model.error();
    return out;
  }

  /// Unloads a group by its name, or a model together with the held groups
  /// that have it as a member (so it is no longer ready anywhere here).
  bool unload(const std::string& name, uint32_t version) {
    bool any = false;
    if (auto i = groups.find(name); i != groups.end()) {
      backend::unload_group(*deps->exec, i->second.group);
      groups.erase(i);
      return true;
    }
    for (auto i = loaded.begin(); i != loaded.end();) {
      const auto& m = i->second.model->manifest();
      if (m.name == name && (version == 0 || m.version == version)) {
        deps->exec->unload(i->second.model);
        i = loaded.erase(i);
        any = true;
      } else {
        ++i;
      }
    }
    for (auto i = groups.begin(); i != groups.end();) {
      bool member = std::any_of(i->second.plan->members.begin(), i->second.plan->members.end(),
                                [&](const fusion_member& f) {
                                  auto at = f.model.rfind(':');
                                  return f.model.substr(0, at) == name
                                         && (version == 0 || f.model.substr(at + 1) == std::to_string(version));
                                });
      if (member) {
        backend::unload_group(*deps->exec, i->second.group);
        i = groups.erase(i);
        any = true;
      } else {
        ++i;
      }
    }
    return any;
  }

  executor_state state() const {
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
    return s;
  }

  void relieve(pressure_level level) {
    if (level < pressure_level::high)
      return;
    auto& mgr = *deps->residency;
    const auto& marks = mgr.options().marks;
    auto over = [&] {
      auto s = mgr.stats();
      return bytes_above_low_watermark(s.device.used_bytes + s.device.reserved_bytes,
                                       s.device.budget_bytes, marks)
             > 0;
    };
    if (over())
      mgr.drop_cached();
    while (over() && swap_out_one()) {
      ++swaps_out_pressure;
      mgr.drop_cached();
    }
  }
};

executor_actor::behavior_type executor_impl(executor_actor::stateful_pointer<executor_data> self,
                                            std::shared_ptr<executor_deps> deps) {
  self->state.deps = std::move(deps);
  return {
    [self](run_atom, const infer_job& job) -> caf::result<infer_outcome> {
      return self->state.run(job);
    },
    [self](load_atom, const std::string& name, uint32_t version) -> caf::result<load_outcome> {
      auto out = self->state.load(name, version);
      if (!out)
        return out.error();
      return *out;
    },
    [self](unload_atom, const std::string& name, uint32_t version) -> caf::result<bool> {
      return self->state.unload(name, version);
    },
    [self](status_atom) -> caf::result<executor_state> { return self->state.state(); },
    [self](pressure_atom, pressure_level level) { self->state.relieve(level); },
  };
}

} // namespace

executor_actor spawn_executor(caf::actor_system& sys, std::shared_ptr<executor_deps> deps) {
  return sys.spawn<caf::detached>(executor_impl, std::move(deps));
}

} // namespace tessera::actors
