// One Tessera node in a process: the block store, the device tier (CPU arena or GPU)
// with its residency manager, and the actors (executors, scheduler, monitor,
// gateway) on one CAF actor system, serving clients on the configured ZeroMQ
// endpoint. `tessera node` runs one; tests and the simulator start several.
#pragma once

#include "tessera/actors/bridge.hpp"
#include "tessera/actors/executor_board.hpp"
#include "tessera/actors/gateway.hpp"
#include "tessera/actors/loader.hpp"
#include "tessera/actors/messages.hpp"
#include "tessera/actors/metrics_server.hpp"
#include "tessera/actors/model_states.hpp"
#include "tessera/backend/device_memory.hpp"
#include "tessera/backend/model_executor.hpp"
#include "tessera/backend/whole_model_memory.hpp"
#include "tessera/core/node_config.hpp"
#include "tessera/residency/host_memory.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/residency/scrubber.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/store/serving_record.hpp"
#include "tessera/torch/streaming.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <zmq.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace tessera::actors {

class node {
public:
  /// Makes executor `index`'s backend over the node's residency manager;
  /// empty means LibTorch. The simulator's real-time mode passes simulated
  /// devices (backends/sim); tests wrap LibTorch's.
  using backend_factory = std::function<caf::expected<std::unique_ptr<backend::model_executor>>(
      uint32_t index, residency::residency_manager& residency)>;

  /// Opens the store and starts everything. `ctx` lets a test share one ZeroMQ
  /// context (for inproc:// endpoints); by default the node makes its own.
  static caf::expected<std::unique_ptr<node>> start(const node_config& cfg,
                                                    zmq::context_t* ctx = nullptr,
                                                    backend_factory make_backend = {});

  /// Stops the gateway (answering what is in flight), then the actors.
  ~node();

  const std::string& endpoint() const {
    return gateway_->endpoint();
  }

  const gateway_counters& counters() const {
    return gateway_->counters();
  }

  /// How the gateway last split the uplink among its clients (decision 30).
  uplink_snapshot uplink() const {
    return gateway_->uplink();
  }

  residency::residency_manager& residency() {
    return *residency_;
  }

  const store::block_store& store() const {
    return *store_;
  }

  caf::actor_system& system() {
    return *system_;
  }

  const scheduler_actor& scheduler() const {
    return scheduler_;
  }

  /// Executors on this node's device (measured at start with `executors = "auto"`).
  uint32_t local_executors() const {
    return local_executors_;
  }

  /// The peers this node schedules onto, and whether they are up.
  std::vector<peer_status> peers() const;

  /// The peers the loader fetches from, and whether they are up.
  std::vector<peer_status> fetch_peers() const;

  /// What the loader fetched from peers and served to them.
  const loader_counters& fetches() const {
    return *loader_counters_;
  }

  /// What the node keeps beyond its loaded models, against host_memory_budget.
  residency::host_memory_stats host_memory() const {
    return host_memory_->stats();
  }

  /// Bytes of parameters the device holds now (its tier's live and admitted
  /// blobs; whole-model serving's loaded models), against device_budget_bytes.
  uint64_t device_bytes_in_use() const;

  /// The Prometheus exposition of this node's metrics (node_metrics.cpp).
  std::string metrics_text();

  /// The HTTP metrics endpoint; null unless `metrics_listen` is set.
  const metrics_server* metrics() const {
    return metrics_.get();
  }

private:
  node() = default;

  // Declared in the order they start; members are destroyed in reverse.
  std::unique_ptr<zmq::context_t> own_ctx_;
  zmq::context_t* ctx_ = nullptr;
  std::unique_ptr<store::block_store> store_;
  std::unique_ptr<backend::device_memory> arena_; ///< the device tier (CPU arena or GPU memory)
  std::unique_ptr<residency::residency_manager> residency_;
  std::unique_ptr<residency::scrubber> scrubber_; ///< goes before the manager
  std::unique_ptr<model_states> states_;          ///< the units' lifecycle states
  std::unique_ptr<executor_board> board_;         ///< the executors' published states
  /// Whole-model serving's device memory (null for serving = "blocks").
  std::shared_ptr<backend::whole_model_memory> whole_memory_;
  /// Streams the units too large to hold, for every executor (null where the
  /// device tier cannot stream).
  std::shared_ptr<torch_backend::streaming_executor> stream_;
  std::shared_ptr<caf::actor> pressure_target_;
  std::shared_ptr<caf::actor> repair_target_; ///< the loader, told of damaged blobs
  caf::actor_system_config system_config_;
  std::unique_ptr<caf::actor_system> system_;
  /// An actor the bridge thread tells of peers going up or down, set once it
  /// is spawned (the bridge starts first); the node replays the peers that
  /// are up right after setting it, so nothing said before is lost.
  struct actor_slot {
    std::mutex mtx;
    caf::actor actor;
  };
  /// Points `slot` at `to`, then tells `to` of the peers already up, as
  /// (peer_atom, first_index + peer, true).
  void set_peer_target(actor_slot& slot, caf::actor to, uint32_t first_index);
  std::shared_ptr<actor_slot> peer_target_;   ///< the scheduler
  std::shared_ptr<actor_slot> groups_target_; ///< the gateway: groups for peers that come up
  std::unique_ptr<bridge> bridge_;
  std::unique_ptr<bridge> fetch_bridge_; ///< the loader's, to fetch_peers
  std::shared_ptr<loader_counters> loader_counters_;
  loader_actor loader_;
  caf::actor registry_; ///< owns the store's catalogue (registry.hpp)
  std::vector<executor_actor> executors_;
  scheduler_actor scheduler_;
  monitor_actor monitor_;
  std::unique_ptr<gateway> gateway_;
  std::atomic<const gateway_counters*> gateway_counters_{nullptr}; ///< set once gateway_ is
  /// Trims what the node keeps to host_memory_budget; stopped before the
  /// gateway, whose request bytes it reads.
  std::unique_ptr<residency::host_memory_keeper> host_memory_;
  std::string node_name_;
  std::optional<store::serving_record> serving_; ///< this node in its store's serving/ folder
  uint32_t local_executors_ = 0;
  steady_time started_ = std::chrono::steady_clock::now();
  std::unique_ptr<metrics_server> metrics_; ///< stopped first: it reads the rest
};

} // namespace tessera::actors
