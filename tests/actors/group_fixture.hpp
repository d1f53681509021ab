// What the fused-group suites share (group, group_pass, group_node): a zoo of
// their own (group definitions change what executors load), definitions that
// are removed after each case, one executor actor over a residency manager of
// its own, and outputs of each model run on its own to compare with.
#pragma once

#include "backends/residency_fixture.hpp"
#include "node_fixture.hpp"
#include "tessera/actors/executor.hpp"
#include "tessera/actors/scheduler.hpp"
#include "tessera/store/group_store.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "why.hpp"

#include <caf/all.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

namespace tessera::test {

using namespace tessera::actors;

// A zoo of this suite's own: defining groups in the shared one would change
// what the other suites' nodes load.
inline small_zoo& group_zoo() {
  static small_zoo z = small_zoo::build(0.25);
  return z;
}

// Defines groups for one test case and removes every definition afterwards.
struct defined_groups {
  store::group_store groups{group_zoo().store->root()};

  void define(const std::string& name, const std::vector<std::string>& models) {
    group_definition def{name, {}, {}};
    for (const auto& m : models)
      def.models.push_back(model_ref(group_zoo().manifest(m)));
    REQUIRE_FALSE(groups.put(def));
  }

  ~defined_groups() {
    for (const auto& d : groups.list())
      groups.remove(d.name);
  }
};

// The outputs of a model run on its own, outside any actor or group.
inline std::vector<tensor_buffer> alone(const std::string& model,
                                        const std::vector<tensor_buffer>& in) {
  const auto& zoo = group_zoo();
  residency::cpu_arena arena;
  residency::residency_manager mgr{*zoo.store, arena, residency::residency_options{}};
  auto exec = torch_backend::make_torch_executor({}, mgr, zoo.store->skeletons());
  REQUIRE(exec);
  auto loaded = (*exec)->load(zoo.manifest(model));
  REQUIRE(loaded);
  auto out = (*exec)->run(**loaded, in);
  REQUIRE(out);
  return *out;
}

inline tensor_buffer image(int64_t batch, uint64_t seed) {
  return random_tensor(with_batch(group_zoo().manifest("resnet18").inputs[0].spec, batch), seed);
}

inline infer_job job_for(const std::string& model, const tensor_buffer& input) {
  const auto& m = group_zoo().manifest(model);
  infer_job j;
  j.model = m.name;
  j.version = m.version;
  j.input_names = {m.inputs[0].name};
  j.inputs = {input};
  j.arrival = std::chrono::steady_clock::now();
  return j;
}

inline uint64_t group_bytes(const std::vector<std::string>& models) {
  std::vector<model_manifest> ms;
  for (const auto& m : models)
    ms.push_back(group_zoo().manifest(m));
  auto plan = plan_fusion("g", ms);
  REQUIRE(plan);
  return plan->savings.fused_bytes;
}

// One executor actor over a residency manager of its own.
struct executor_rig {
  residency_rig res;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  executor_actor exec;

  explicit executor_rig(uint64_t budget = 1ull << 30, bool keep_unloaded = true)
      : res(*group_zoo().store, budget, load_mode::in_place, keep_unloaded) {
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    auto deps = std::make_shared<executor_deps>();
    deps->name = "group-test/cpu/0";
    torch_backend::torch_options topts;
    topts.threads = 1;
    auto e = torch_backend::make_torch_executor(topts, *res.mgr, group_zoo().store->skeletons());
    REQUIRE(e);
    deps->exec = std::move(*e);
    deps->residency = res.mgr.get();
    deps->store = &*group_zoo().store;
    exec = spawn_executor(*sys, deps);
  }

  // Sends the executor the store's catalogue as it is now, as a node's
  // registry does after the store changed.
  void publish_catalog() {
    caf::anon_send(exec, catalog_atom::value, catalog_ptr{store::read_catalog(*group_zoo().store)});
  }

  ~executor_rig() {
    caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
    sys->await_all_actors_done();
  }

  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& to, Ts&&... xs) {
    caf::scoped_actor self{*sys};
    caf::expected<T> out = make_error(ec::none);
    self->request(to, std::chrono::seconds(120), std::forward<Ts>(xs)...)
        .receive([&](T& r) { out = std::move(r); }, [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  infer_outcome run(const infer_job& j) {
    auto out = ask<infer_outcome>(exec, run_atom::value, j);
    REQUIRE_MESSAGE(out, test::why(out));
    return std::move(*out);
  }

  executor_state status() {
    auto s = ask<executor_state>(exec, status_atom::value);
    REQUIRE(s);
    return *s;
  }

  caf::expected<load_outcome> load(const std::string& name) {
    return ask<load_outcome>(exec, load_atom::value, name, uint32_t{0});
  }

  caf::expected<bool> unload(const std::string& name) {
    return ask<bool>(exec, unload_atom::value, name, uint32_t{0});
  }

  /// Sends every job to `to` at once, then collects each one's answer.
  std::vector<caf::expected<infer_outcome>> run_all(const scheduler_actor& to,
                                                    const std::vector<infer_job>& jobs) {
    caf::scoped_actor self{*sys};
    std::vector<decltype(self->request(to, std::chrono::seconds(120), run_atom::value,
                                       jobs.front()))>
        handles;
    for (const auto& j : jobs)
      handles.push_back(self->request(to, std::chrono::seconds(120), run_atom::value, j));
    std::vector<caf::expected<infer_outcome>> out;
    for (auto& h : handles) {
      out.emplace_back(make_error(ec::none));
      h.receive([&](infer_outcome& r) { out.back() = std::move(r); },
                [&](caf::error& err) { out.back() = std::move(err); });
    }
    return out;
  }

  /// Leases the residency manager granted: one per unit loaded.
  uint64_t leases() const {
    return res.mgr->stats().counters.loads;
  }

  std::set<std::string> holders() const {
    std::set<std::string> out;
    for (const auto& b : res.mgr->blobs())
      out.insert(b.holders.begin(), b.holders.end());
    return out;
  }
};

// Checks an outcome for one model: its own output names and the outputs of
// the model run on its own, bit for bit.
inline void check_equal_to_alone(const infer_outcome& out, const std::string& model,
                                 const tensor_buffer& in) {
  const auto& m = group_zoo().manifest(model);
  auto expected = alone(model, {in});
  REQUIRE(out.names.size() == m.outputs.size());
  REQUIRE(out.tensors.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(out.names[i] == m.outputs[i].name);
    CHECK_MESSAGE(same_bytes(out.tensors[i], expected[i]), model << " output " << i);
  }
}

inline bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

} // namespace tessera::test
