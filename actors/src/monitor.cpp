#include "tessera/actors/monitor.hpp"

#include <caf/all.hpp>

namespace tessera::actors {

namespace {

struct monitor_data {
  residency::residency_manager* residency = nullptr;
  std::vector<executor_actor> executors;
  std::chrono::milliseconds period{100};
  uint64_t signals = 0;

  static inline const char* name = "monitor";
};

using self_ptr = monitor_actor::stateful_pointer<monitor_data>;

void signal(self_ptr self, pressure_level level) {
  if (level < pressure_level::high)
    return;
  ++self->state.signals;
  for (auto& e : self->state.executors)
    self->send(e, pressure_atom::value, level);
}

monitor_actor::behavior_type monitor_impl(self_ptr self, residency::residency_manager* residency,
                                          std::vector<executor_actor> executors,
                                          std::chrono::milliseconds period) {
  self->state.residency = residency;
  self->state.executors = std::move(executors);
  self->state.period = period;
  self->delayed_send(self, period, tick_atom::value);
  return {
    [self](tick_atom) {
      signal(self, self->state.residency->pressure());
      self->delayed_send(self, self->state.period, tick_atom::value);
    },
    [self](pressure_atom, pressure_level level) { signal(self, level); },
  };
}

} // namespace

monitor_actor spawn_monitor(caf::actor_system& sys, residency::residency_manager& residency,
                            std::vector<executor_actor> executors,
                            std::chrono::milliseconds period) {
  return sys.spawn(monitor_impl, &residency, std::move(executors), period);
}

} // namespace tessera::actors
