// The gateway's split of the node's uplink among its clients (decision 30).
// Each active client counts as one request, its latest, in a schedule_instance,
// and allocate_uplink() gives the shares for the deadline order the scheduler
// follows. Plain data with time passed in; the gateway's socket thread owns one.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/core/schedule_model.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tessera::actors {

struct uplink_options {
  /// The uplink's capacity; 0 turns shares off.
  double capacity_bytes_per_s = 0.0;
  /// A client with nothing in flight that sent nothing for this long leaves.
  std::chrono::milliseconds active_window{1000};
  /// Shares are computed again at most this often, and only when the active
  /// clients or their figures changed: this bounds the cost per request.
  std::chrono::milliseconds min_recompute_interval{20};
  /// The budget that stands for a request without a deadline.
  double no_deadline_ms = 10000.0;
  /// Clients counted at most; the least recently seen leave first.
  size_t max_clients = 256;
  /// Executors that serve requests side by side: each model's service time is
  /// divided by this in the one-device cost model.
  size_t executors = 1;
};

/// The last computation of the shares (for tests, logs and status).
struct uplink_snapshot {
  /// One request per client, at time 0, due at its budget; one single-block
  /// model per model name, of no bytes, with its mean service time.
  schedule_instance instance;
  std::vector<size_t> order;               ///< what allocate_uplink() got: by deadline
  std::vector<std::string> clients;        ///< request i of `instance` is clients[i]'s
  std::vector<uint64_t> share_bytes_per_s; ///< per client: allocate_uplink()'s, rounded down
  double capacity_bytes_per_ms = 0.0;
  uint64_t computations = 0;
};

class uplink_shares {
public:
  explicit uplink_shares(uplink_options opts) : opts_(opts) {
    // nop
  }

  bool enabled() const {
    return opts_.capacity_bytes_per_s > 0.0;
  }

  /// An inference from `client` arrived with `input_bytes` of inputs and a
  /// deadline `budget_ms` after its arrival (none: no deadline). True when it
  /// counts, and then finished() must follow once it is answered.
  bool arrived(const std::string& client, uint64_t input_bytes, std::optional<double> budget_ms,
               const std::string& model, steady_time now);

  /// One of `client`'s inferences was answered.
  void finished(const std::string& client, steady_time now);

  /// A reply reported that running `model` took `service_ms` (load and run).
  void served(const std::string& model, double service_ms);

  /// The share for a reply to `client`, in bytes per second; none when shares
  /// are off or the client is not active. Computes the shares again first
  /// when they are due.
  std::optional<uint64_t> share_of(const std::string& client, steady_time now);

  const uplink_snapshot& snapshot() const {
    return last_;
  }

private:
  struct client_figures {
    uint64_t input_bytes = 0;
    double budget_ms = 0.0;
    std::string model;
    size_t in_flight = 0;
    steady_time last_seen{};
  };

  /// Drops clients that left and computes the shares again when due.
  void refresh(steady_time now);
  void compute();

  uplink_options opts_;
  std::map<std::string, client_figures> clients_;
  std::map<std::string, double> service_ms_; ///< running mean per model
  bool dirty_ = false;
  steady_time last_refresh_{};
  uplink_snapshot last_;
  std::map<std::string, uint64_t> shares_;
};

} // namespace tessera::actors
