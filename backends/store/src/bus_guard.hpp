// Copies out of a kept mapping under a guard against SIGBUS. Touching a page
// of a mapped file raises SIGBUS when the page no longer exists (the file was
// truncated after it was checked) or cannot be read (a disk error on a page
// the kernel had evicted). A read through `pread` gets an error in those
// cases; a guarded copy does too, instead of killing the node.
#pragma once

#include <csetjmp>
#include <csignal>

namespace tessera::store {

namespace detail {
/// The guard of the copy running on this thread, if any.
extern thread_local sigjmp_buf* active_bus_guard;
/// Installs the SIGBUS handler once per process; signals that are not a
/// guarded copy's go to the handler that was there before.
void install_bus_handler();
} // namespace detail

/// Runs `copy`, which must only read mapped memory and write its
/// destination (no objects with destructors, no locks): true when it ran to
/// the end, false when a page it touched raised SIGBUS.
template <class F>
bool copy_guarded(F&& copy) {
  detail::install_bus_handler();
  sigjmp_buf env;
  // The mask is not saved (that would be a system call per copy): the
  // handler runs with SIGBUS unblocked (SA_NODEFER), so leaving it by a jump
  // leaves the mask as it was.
  if (sigsetjmp(env, 0) != 0) { // back from the handler
    detail::active_bus_guard = nullptr;
    return false;
  }
  detail::active_bus_guard = &env;
  copy();
  detail::active_bus_guard = nullptr;
  return true;
}

} // namespace tessera::store
