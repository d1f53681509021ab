#include "tessera/sim/sim_executor.hpp"

#include "tessera/core/error.hpp"

#include <caf/all.hpp>

namespace tessera::sim {

double virtual_world::now_ms() const {
  double t = 0.0;
  for (const auto& d : devices)
    t = std::max(t, d.clock_ms());
  return t;
}

namespace {

using namespace actors;

executor_actor::behavior_type sim_executor(executor_actor::pointer self, std::shared_ptr<virtual_world> world,
                                           size_t device) {
  (void) self;
  return {
      [=](run_atom, const infer_job& job) -> caf::result<infer_outcome> {
        auto j = world->jobs.find(job.ticket);
        if (j == world->jobs.end())
          return make_error(ec::invalid_argument, "unknown virtual job");
        auto r = world->devices[device].run(job.model, j->second.arrival_ms);
        if (!r)
          return r.error();
        if (r->load_ms > 0.0)
          ++world->load_switches;
        (r->end_ms <= j->second.deadline_ms ? world->met : world->missed) += 1;
        infer_outcome out;
        out.model = job.model;
        out.executor = "sim/" + std::to_string(device);
        out.load_ms = r->load_ms;
        out.run_ms = r->end_ms - r->start_ms - r->load_ms;
        return out;
      },
      [=](load_atom, const std::string& model, uint32_t) -> caf::result<load_outcome> {
        return load_outcome{model, 1, 0, 0};
      },
      [=](unload_atom, const std::string&, uint32_t) -> caf::result<bool> { return true; },
      [=](status_atom) -> caf::result<executor_state> {
        executor_state st;
        st.name = "sim/" + std::to_string(device);
        return st;
      },
      [=](pressure_atom, pressure_level) {},
      [=](catalog_atom, const catalog_ptr&) {},
  };
}

} // namespace

actors::executor_actor spawn_sim_executor(caf::actor_system& sys, std::shared_ptr<virtual_world> world,
                                          size_t device) {
  return sys.spawn(sim_executor, std::move(world), device);
}

} // namespace tessera::sim
