// `tessera top`: a live view of a node and the cluster it sees, refreshed every
// interval: nodes up or down, device memory, models ready, requests in flight
// and the answer rate. It asks the node's gateway (server_status and
// repository_index), so it needs nothing but the client endpoint.
#include "commands.hpp"

#include "tessera/core/error.hpp"
#include "tessera/transport/client.hpp"

#include <chrono>
#include <cstdio>
#include <thread>

namespace tessera::cli {

void add_top_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("top", "a live view of a node and its cluster (Ctrl-C quits)");
  auto endpoint = std::make_shared<std::string>("tcp://127.0.0.1:5555");
  auto interval_ms = std::make_shared<int>(1000);
  auto count = std::make_shared<int>(0);
  cmd->add_option("--endpoint", *endpoint, "the node's gateway")->capture_default_str();
  cmd->add_option("--interval-ms", *interval_ms, "refresh period")->check(CLI::Range(100, 60000));
  cmd->add_option("--count", *count, "refreshes before quitting (0: until Ctrl-C); with 1, no screen clearing");
  cmd->callback([&action, endpoint, interval_ms, count] {
    action = [endpoint, interval_ms, count]() -> int {
      using namespace transport;
      zmq::context_t zctx{1};
      auto c = client::connect(zctx, *endpoint);
      if (!c)
        return fail(c.error());
      auto timeout = std::chrono::milliseconds(std::max(2000, *interval_ms));
      uint64_t last_served = 0;
      auto last_time = std::chrono::steady_clock::now();
      for (int i = 0; *count == 0 || i < *count; ++i) {
        auto status = c->call_as<server_status_response>({"", server_status_request{}}, timeout);
        if (!status)
          return fail(status.error());
        auto ready = c->call_as<repository_index_response>({"", repository_index_request{true}}, timeout);
        if (!ready)
          return fail(ready.error());
        auto now = std::chrono::steady_clock::now();
        double secs = std::chrono::duration<double>(now - last_time).count();
        double rate = i == 0 || secs <= 0 ? 0.0 : static_cast<double>(status->requests_served - last_served) / secs;
        last_served = status->requests_served;
        last_time = now;
        if (*count != 1)
          std::printf("\033[H\033[2J"); // home and clear
        std::printf("tessera top - %s (%s), up %.1f s\n", status->node_name.c_str(), endpoint->c_str(),
                    static_cast<double>(status->uptime_ms) / 1000.0);
        std::printf("requests: %llu in flight, %llu answered, %.1f/s\n\n",
                    static_cast<unsigned long long>(status->requests_in_flight),
                    static_cast<unsigned long long>(status->requests_served), rate);
        std::printf("%-36s %s\n", "NODE", "STATE");
        for (const auto& n : status->nodes)
          std::printf("%-36s %s\n", n.name.c_str(), n.state.c_str());
        std::printf("\n%-36s %12s %12s %6s\n", "DEVICE", "USED", "BUDGET", "USE");
        for (const auto& d : status->devices)
          std::printf("%-36s %12s %12s %5.1f%%\n", d.name.c_str(), format_mb(d.used_bytes).c_str(),
                      format_mb(d.budget_bytes).c_str(),
                      d.budget_bytes == 0 ? 0.0 : 100.0 * static_cast<double>(d.used_bytes) / static_cast<double>(d.budget_bytes));
        std::printf("\nREADY MODELS (%zu):", ready->models.size());
        for (const auto& m : ready->models)
          std::printf(" %s:%lld", m.name.c_str(), static_cast<long long>(m.version.value_or(0)));
        std::printf("\n");
        std::fflush(stdout);
        if (*count == 0 || i + 1 < *count)
          std::this_thread::sleep_for(std::chrono::milliseconds(*interval_ms));
      }
      return 0;
    };
  });
  (void) ctx;
}

} // namespace tessera::cli
