// `tessera node`: runs one node (store, residency, executors, scheduler,
// monitor and the client gateway) until SIGINT or SIGTERM, then stops cleanly:
// requests in flight are answered before the process exits.
#include "commands.hpp"

#include "tessera/actors/node.hpp"
#include "tessera/core/error.hpp"

#include <csignal>
#include <cstdio>

namespace tessera::cli {

void add_node_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("node", "run a node that serves clients over ZeroMQ (Ctrl-C stops it)");
  auto listen = std::make_shared<std::string>();
  cmd->add_option("--listen", *listen, "endpoint to serve on (default: the `listen` setting)");
  cmd->callback([&ctx, &action, listen] {
    action = [&ctx, listen]() -> int {
      auto cfg = ctx.config();
      if (!listen->empty())
        cfg.listen = *listen;
      // Block the stop signals before any thread starts, so only sigwait sees them.
      sigset_t stop_signals;
      sigemptyset(&stop_signals);
      sigaddset(&stop_signals, SIGINT);
      sigaddset(&stop_signals, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
      auto n = actors::node::start(cfg);
      if (!n)
        return fail(n.error());
      std::printf("tessera node %s serving %s on %s (%u executor%s, budget %s, %s)\n",
                  cfg.node_name.c_str(), cfg.store_path.c_str(), (*n)->endpoint().c_str(),
                  (*n)->local_executors(), (*n)->local_executors() == 1 ? "" : "s",
                  format_mib(cfg.device_budget_bytes).c_str(),
                  cfg.mode == load_mode::in_place ? "in place" : "copy");
      std::fflush(stdout);
      int sig = 0;
      sigwait(&stop_signals, &sig);
      std::printf("stopping on signal %d after %llu requests\n", sig,
                  static_cast<unsigned long long>((*n)->counters().received.load()));
      n->reset();
      return 0;
    };
  });
}

} // namespace tessera::cli
