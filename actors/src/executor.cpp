#include "tessera/actors/executor.hpp"

#include "tessera/core/error.hpp"

#include <caf/all.hpp>

#include <map>

namespace tessera::actors {

namespace {

double ms_between(steady_time a, steady_time b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct executor_data {
  struct held {
    std::shared_ptr<backend::loaded_model> model;
    uint64_t last_used = 0;
  };

  std::shared_ptr<executor_deps> deps;
  std::map<std::string, held> loaded; // "name:version"
  uint64_t tick = 0;
  uint64_t served = 0;
  uint64_t swaps_out = 0;

  static inline const char* name = "executor";

  static std::string key(const model_manifest& m) {
    return m.name + ":" + std::to_string(m.version);
  }

  /// Unloads the least recently used model; false when none is loaded.
  bool swap_out_one() {
    if (loaded.empty())
      return false;
    auto victim = loaded.begin();
    for (auto i = loaded.begin(); i != loaded.end(); ++i)
      if (i->second.last_used < victim->second.last_used)
        victim = i;
    deps->exec->unload(victim->second.model);
    loaded.erase(victim);
    ++swaps_out;
    return true;
  }

  caf::expected<std::shared_ptr<backend::loaded_model>>
  ensure_loaded(const std::string& name, uint32_t version, load_outcome* out) {
    // The common case, a held model asked for by its exact version, needs no
    // manifest read (the gateway resolves versions before jobs get here).
    if (version != 0)
      if (auto i = loaded.find(name + ":" + std::to_string(version)); i != loaded.end()) {
        i->second.last_used = ++tick;
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
      if (out != nullptr)
        out->reused_bytes = parameter_bytes(*m);
      return i->second.model;
    }
    for (;;) {
      backend::load_report report;
      auto model = deps->exec->load(*m, &report);
      if (model) {
        loaded[k] = held{*model, ++tick};
        if (out != nullptr) {
          out->loaded_bytes = report.bytes_read;
          out->reused_bytes = report.bytes - report.bytes_read;
        }
        return *model;
      }
      // Full memory: make room from this executor's own idle models, then retry.
      if (code_of(model.error()) != ec::out_of_memory || !swap_out_one())
        return model.error();
      deps->residency->drop_cached();
    }
  }

  caf::result<infer_outcome> run(const infer_job& job) {
    auto start = std::chrono::steady_clock::now();
    if (start > job.deadline && !job.best_effort)
      return make_error(ec::deadline_exceeded, "model \"" + job.model + "\": the deadline passed while queued");
    load_outcome lo;
    auto model = ensure_loaded(job.model, job.version, &lo);
    if (!model)
      return model.error();
    auto loaded_at = std::chrono::steady_clock::now();
    auto out = deps->exec->run(**model, job.inputs);
    if (!out)
      return out.error();
    auto done = std::chrono::steady_clock::now();
    infer_outcome r;
    r.model = lo.model;
    r.version = lo.version;
    r.executor = deps->name;
    const auto& m = (*model)->manifest();
    for (size_t i = 0; i < m.outputs.size() && i < out->size(); ++i) {
      const auto& name = m.outputs[i].name;
      bool wanted = job.outputs.empty()
                    || std::find(job.outputs.begin(), job.outputs.end(), name) != job.outputs.end();
      if (!wanted)
        continue;
      r.names.push_back(name);
      r.tensors.push_back((*out)[i]);
    }
    for (const auto& [k, h] : loaded)
      r.held.push_back(h.model->manifest().name);
    r.queue_ms = ms_between(job.arrival, start);
    r.load_ms = ms_between(start, loaded_at);
    r.run_ms = ms_between(loaded_at, done);
    ++served;
    return r;
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
    while (over() && swap_out_one())
      mgr.drop_cached();
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
      load_outcome out;
      auto m = self->state.ensure_loaded(name, version, &out);
      if (!m)
        return m.error();
      return out;
    },
    [self](unload_atom, const std::string& name, uint32_t version) -> caf::result<bool> {
      auto& st = self->state;
      for (auto i = st.loaded.begin(); i != st.loaded.end(); ++i) {
        const auto& m = i->second.model->manifest();
        if (m.name == name && (version == 0 || m.version == version)) {
          st.deps->exec->unload(i->second.model);
          st.loaded.erase(i);
          return true;
        }
      }
      return false;
    },
    [self](status_atom) -> caf::result<executor_state> {
      executor_state s;
      s.name = self->state.deps->name;
      for (const auto& [k, h] : self->state.loaded)
        s.loaded.push_back(k);
      s.served = self->state.served;
      s.swaps_out = self->state.swaps_out;
      return s;
    },
    [self](pressure_atom, pressure_level level) { self->state.relieve(level); },
  };
}

} // namespace

executor_actor spawn_executor(caf::actor_system& sys, std::shared_ptr<executor_deps> deps) {
  return sys.spawn<caf::detached>(executor_impl, std::move(deps));
}

} // namespace tessera::actors
