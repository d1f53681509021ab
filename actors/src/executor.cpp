#include "tessera/actors/executor.hpp"

#include "executor_units.hpp"

#include <caf/all.hpp>

namespace tessera::actors {

namespace {

executor_actor::behavior_type executor_impl(executor_actor::stateful_pointer<executor_units> self,
                                            std::shared_ptr<executor_deps> deps) {
  self->state.streams = std::make_unique<streamed_units>(deps->stream, *deps->residency);
  self->state.catalog = deps->catalog            ? deps->catalog
                        : deps->store != nullptr ? store::read_catalog(*deps->store)
                                                 : std::make_shared<store::store_catalog>();
  self->state.deps = std::move(deps);
  // Every message ends by publishing what the executor holds.
  auto& st = self->state;
  return {
      [&st](run_atom, const infer_job& job) -> caf::result<infer_outcome> {
        auto out = st.run(job);
        st.publish();
        return out;
      },
      [&st](load_atom, const std::string& name, uint32_t version) -> caf::result<load_outcome> {
        auto out = st.load(name, version);
        st.publish();
        if (!out)
          return out.error();
        return *out;
      },
      [&st](unload_atom, const std::string& name, uint32_t version) -> caf::result<bool> {
        bool any = st.unload(name, version);
        st.publish();
        return any;
      },
      [&st](status_atom) -> caf::result<executor_state> { return st.state(); },
      [&st](pressure_atom, pressure_level level) {
        st.relieve(level);
        st.publish();
      },
      [&st](catalog_atom, catalog_ptr& next) {
        st.sync_groups(std::move(next));
        st.publish();
      },
  };
}

} // namespace

executor_actor spawn_executor(caf::actor_system& sys, std::shared_ptr<executor_deps> deps) {
  return sys.spawn<caf::detached>(executor_impl, std::move(deps));
}

} // namespace tessera::actors
