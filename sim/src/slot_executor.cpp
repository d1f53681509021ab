#include "tessera/sim/slot_executor.hpp"

#include "tessera/core/error.hpp"

#include <caf/all.hpp>

#include <optional>

namespace tessera::sim {

namespace {

using namespace actors;

struct held_reply {
  caf::typed_response_promise<infer_outcome> promise;
  infer_outcome outcome;
};

struct slot_data {
  std::optional<held_reply> held;
  static inline const char* name = "sim_slot";
};

using self_ptr = slot_executor_actor::stateful_pointer<slot_data>;

std::string slot_name(size_t slot) {
  return "sim/" + std::to_string(slot);
}

slot_executor_actor::behavior_type slot_executor(self_ptr self, std::shared_ptr<cluster_world> world, size_t slot) {
  return {
      [=](run_atom, const infer_job& job) -> caf::typed_response_promise<infer_outcome> {
        auto rp = self->make_response_promise<infer_outcome>();
        auto& s = world->slots[slot];
        if (s.failed || self->state.held) {
          rp.deliver(make_error(ec::unavailable, slot_name(slot) + ": the node is down"));
          return rp;
        }
        if (job.ticket == 0 || job.ticket > world->records.size()) {
          rp.deliver(make_error(ec::invalid_argument, "unknown virtual job"));
          return rp;
        }
        auto r = s.device.run(job.model, world->now_ms);
        if (!r) {
          rp.deliver(r.error());
          return rp;
        }
        auto& rec = world->records[job.ticket - 1];
        rec.start_ms = r->start_ms;
        rec.end_ms = r->end_ms;
        rec.load_ms = r->load_ms;
        rec.node = static_cast<int32_t>(s.node);
        ++rec.runs;
        s.spans.push_back({r->start_ms, r->end_ms, s.device.resident_bytes()});
        s.loaded_bytes += r->loaded_bytes;
        s.evictions += r->evicted_blocks;
        if (r->loaded_bytes > 0)
          ++s.switches;
        world->set_due(slot, r->end_ms);
        infer_outcome out;
        out.model = job.model;
        out.executor = slot_name(slot);
        out.load_ms = r->load_ms;
        out.run_ms = r->end_ms - r->start_ms - r->load_ms;
        self->state.held = held_reply{rp, std::move(out)};
        return rp;
      },
      [=](tick_atom) {
        auto& s = world->slots[slot];
        auto& held = self->state.held;
        if (!held)
          return;
        if (s.failed) {
          held->promise.deliver(
              make_error(ec::unavailable, slot_name(slot) + ": the node failed during the job"));
        } else if (s.due_ms <= world->now_ms) {
          held->promise.deliver(std::move(held->outcome));
        } else {
          return;
        }
        held.reset();
        world->set_due(slot, std::numeric_limits<double>::infinity());
      },
      [=](load_atom, const std::string& model, uint32_t) -> caf::result<load_outcome> {
        return load_outcome{model, 1, 0, 0};
      },
      [=](unload_atom, const std::string&, uint32_t) -> caf::result<bool> { return true; },
      [=](status_atom) -> caf::result<executor_state> {
        executor_state st;
        st.name = slot_name(slot);
        return st;
      },
      [=](pressure_atom, pressure_level) {
        // nop: the simulated device manages its own residency
      },
      [=](catalog_atom, const catalog_ptr&) {
        // nop: the simulated device serves no fused groups of a store
      },
  };
}

} // namespace

slot_executor_actor spawn_slot_executor(caf::actor_system& sys, std::shared_ptr<cluster_world> world, size_t slot) {
  return sys.spawn(slot_executor, std::move(world), slot);
}

} // namespace tessera::sim
