// `tessera top`: a live view of a cluster, refreshed every interval. For each
// node named with --endpoint (one or more gateways): up or down, requests
// queued for an executor, in flight and answered, the answer rate, and device
// memory; then each node's executors (its own and its peers', as it sees them)
// with the models resident on them, jobs served and their rate. It asks each
// gateway for server_status over the client protocol, so it needs nothing but
// the endpoints (and the CURVE keys, where the cluster uses them).
#include "client_options.hpp"
#include "commands.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

namespace tessera::cli {

namespace {

using namespace transport;
using clock_type = std::chrono::steady_clock;

/// What one refresh learned of one node.
struct node_view {
  std::string endpoint;
  caf::expected<server_status_response> status = make_error(ec::unavailable, "not asked");
};

/// Per-second rates from two readings of a counter, kept by key between refreshes.
class rate_meter {
public:
  /// The rate since the last reading of `key`, as text: "-" on the first
  /// reading, and after a restart (the counter went back).
  std::string update(const std::string& key, uint64_t value, clock_type::time_point now) {
    auto [i, first] = last_.try_emplace(key, reading{value, now});
    auto prev = i->second;
    i->second = reading{value, now};
    double secs = std::chrono::duration<double>(now - prev.at).count();
    if (first || secs <= 0 || value < prev.value)
      return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(value - prev.value) / secs);
    return buf;
  }

private:
  struct reading {
    uint64_t value;
    clock_type::time_point at;
  };
  std::map<std::string, reading> last_;
};

/// Asks every node at once, then collects the answers within `timeout`.
std::vector<node_view> ask_all(std::vector<caf::expected<client>>& clients,
                               const std::vector<std::string>& endpoints,
                               std::chrono::milliseconds timeout) {
  std::vector<node_view> out(endpoints.size());
  std::vector<std::string> ids(endpoints.size());
  for (size_t i = 0; i < endpoints.size(); ++i) {
    out[i].endpoint = endpoints[i];
    if (!clients[i]) {
      out[i].status = clients[i].error();
      continue;
    }
    auto id = clients[i]->send({"", server_status_request{}}, timeout);
    if (!id)
      out[i].status = id.error();
    else
      ids[i] = *id;
  }
  auto until = clock_type::now() + timeout;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    if (ids[i].empty())
      continue;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
    auto body = clients[i]->wait_for(ids[i], std::max(left, std::chrono::milliseconds(1)));
    if (!body)
      out[i].status = body.error();
    else if (auto* s = std::get_if<server_status_response>(&*body))
      out[i].status = std::move(*s);
    else
      out[i].status =
          make_error(ec::malformed_request, "the node answered server_status with another reply");
  }
  return out;
}

std::string models_text(const std::vector<std::string>& models) {
  std::string out;
  for (const auto& m : models)
    out += (out.empty() ? "" : " ") + m;
  return out.empty() ? "-" : out;
}

void print_view(const std::vector<node_view>& views, rate_meter& rates, clock_type::time_point now,
                int interval_ms) {
  std::printf("tessera top - %zu node(s), every %.1f s\n\n", views.size(), interval_ms / 1000.0);
  std::printf("%-22s %-5s %7s %9s %10s %8s  %s\n", "NODE", "STATE", "QUEUED", "IN FLIGHT",
              "ANSWERED", "RATE/s", "DEVICE USED / BUDGET");
  for (const auto& v : views) {
    if (!v.status) {
      std::printf("%-22s %-5s (%s)\n", v.endpoint.c_str(), "DOWN",
                  describe(v.status.error()).c_str());
      continue;
    }
    const auto& s = *v.status;
    uint64_t used = 0, budget = 0;
    for (const auto& d : s.devices) {
      used += d.used_bytes;
      budget += d.budget_bytes;
    }
    std::printf("%-22s %-5s %7llu %9llu %10llu %8s  %s / %s\n", s.node_name.c_str(), "up",
                static_cast<unsigned long long>(s.requests_queued),
                static_cast<unsigned long long>(s.requests_in_flight),
                static_cast<unsigned long long>(s.requests_served),
                rates.update(v.endpoint, s.requests_served, now).c_str(), format_mib(used).c_str(),
                format_mib(budget).c_str());
  }
  for (const auto& v : views) {
    if (!v.status)
      continue;
    const auto& s = *v.status;
    std::printf("\n%s sees:", s.node_name.c_str());
    for (const auto& n : s.nodes)
      if (n.name != s.node_name)
        std::printf(" %s %s,", n.name.c_str(), n.state.c_str());
    std::printf(" %zu executor(s)\n", s.executors.size());
    std::printf("  %-40s %8s %8s  %s\n", "EXECUTOR", "SERVED", "RATE/s", "RESIDENT");
    auto executors = s.executors; // in name order: replies arrive in any order
    std::sort(executors.begin(), executors.end(),
              [](const executor_entry& a, const executor_entry& b) { return a.name < b.name; });
    for (const auto& e : executors)
      std::printf("  %-40s %8llu %8s  %s\n", e.name.c_str(),
                  static_cast<unsigned long long>(e.served),
                  rates.update(v.endpoint + " " + e.name, e.served, now).c_str(),
                  models_text(e.models).c_str());
  }
}

} // namespace

void add_top_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("top", "a live view of the cluster's nodes (Ctrl-C quits)");
  auto endpoints =
      std::make_shared<std::vector<std::string>>(std::vector<std::string>{"tcp://127.0.0.1:5555"});
  auto server_keys = std::make_shared<std::vector<std::string>>();
  auto io = std::make_shared<client_options>();
  io->timeout_ms = 2000;
  auto interval_ms = std::make_shared<int>(1000);
  auto count = std::make_shared<int>(0);
  cmd->add_option("--endpoint", *endpoints, "a node's gateway; repeat it for each node to show")
      ->capture_default_str();
  cmd->add_option("--timeout-ms", io->timeout_ms, "how long to wait for the nodes' answers")
      ->capture_default_str();
  cmd->add_option("--curve-server-key", *server_keys,
                  "the nodes' CURVE public keys (Z85 or .pub files): one for all, or one per "
                  "--endpoint, in order");
  cmd->add_option("--curve-key", io->curve_key, "this client's CURVE secret key file");
  cmd->add_option("--interval-ms", *interval_ms, "refresh period")->check(CLI::Range(100, 60000));
  cmd->add_option(
      "--count", *count,
      "refreshes before quitting (0: until Ctrl-C); with 1, no screen clearing, and the "
      "exit code is 1 when a node did not answer");
  cmd->callback([&action, endpoints, server_keys, io, interval_ms, count] {
    action = [endpoints, server_keys, io, interval_ms, count]() -> int {
      if (server_keys->size() > 1 && server_keys->size() != endpoints->size())
        return fail(make_error(ec::invalid_argument,
                               "--curve-server-key: " + std::to_string(server_keys->size()) +
                                   " keys for " + std::to_string(endpoints->size()) +
                                   " endpoints"));
      zmq::context_t zctx{1};
      std::vector<caf::expected<client>> clients;
      for (size_t i = 0; i < endpoints->size(); ++i) {
        const auto& e = (*endpoints)[i];
        auto o = *io;
        if (!server_keys->empty())
          o.curve_server_key = (*server_keys)[server_keys->size() == 1 ? 0 : i];
        auto c = connect_client(zctx, o, e);
        // A bad endpoint or key is the operator's mistake: say so now. An
        // unreachable node only shows as down.
        if (!c)
          return fail(wrap(c.error(), e));
        clients.push_back(std::move(c));
      }
      rate_meter rates;
      bool all_up = true;
      for (int i = 0; *count == 0 || i < *count; ++i) {
        auto views = ask_all(clients, *endpoints, std::chrono::milliseconds(io->timeout_ms));
        if (*count != 1)
          std::printf("\033[H\033[2J"); // home and clear
        print_view(views, rates, clock_type::now(), *interval_ms);
        std::fflush(stdout);
        all_up = std::all_of(views.begin(), views.end(),
                             [](const node_view& v) { return static_cast<bool>(v.status); });
        if (*count == 0 || i + 1 < *count)
          std::this_thread::sleep_for(std::chrono::milliseconds(*interval_ms));
      }
      return all_up ? 0 : 1;
    };
  });
  (void)ctx;
}

} // namespace tessera::cli
