#include "bus_guard.hpp"

#include <mutex>

namespace tessera::store::detail {

thread_local sigjmp_buf* active_bus_guard = nullptr;

namespace {

struct sigaction previous_bus_action {};

void on_bus_error(int sig, siginfo_t* info, void* context) {
  if (active_bus_guard != nullptr)
    siglongjmp(*active_bus_guard, 1);
  // Not a guarded copy: whoever handled SIGBUS before, or the default (a
  // core dump), as if this handler were not there.
  if ((previous_bus_action.sa_flags & SA_SIGINFO) != 0 &&
      previous_bus_action.sa_sigaction != nullptr) {
    previous_bus_action.sa_sigaction(sig, info, context);
    return;
  }
  if (previous_bus_action.sa_handler != SIG_DFL && previous_bus_action.sa_handler != SIG_IGN) {
    previous_bus_action.sa_handler(sig);
    return;
  }
  ::signal(SIGBUS, SIG_DFL);
  ::raise(SIGBUS);
}

} // namespace

void install_bus_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_bus_error;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &previous_bus_action);
  });
}

} // namespace tessera::store::detail
