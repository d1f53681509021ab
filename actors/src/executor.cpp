#include "tessera/actors/executor.hpp"

#include "executor_units.hpp"

#include <caf/all.hpp>

namespace tessera::actors {

namespace {

executor_actor::behavior_type executor_impl(executor_actor::stateful_pointer<executor_units> self,
                                            std::shared_ptr<executor_deps> deps) {
  self->state.streams = std::make_unique<streamed_units>(deps->stream, *deps->residency);
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
