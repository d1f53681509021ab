#include "tessera/actors/node.hpp"
#include "tessera/actors/registry.hpp"

#include "executor_calibration.hpp"
#include "node_security.hpp"
#include "streamed_units.hpp"

#include "tessera/actors/device_tier.hpp"
#include "tessera/actors/executor.hpp"
#include "tessera/actors/loader.hpp"
#include "tessera/actors/monitor.hpp"
#include "tessera/actors/remote_executor.hpp"
#include "tessera/actors/request_log.hpp"
#include "tessera/actors/scheduler.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/executor_count.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "tessera/torch/whole_model_executor.hpp"

#include <caf/all.hpp>

#include <cerrno>
#include <cstring>
#include <limits>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

namespace tessera::actors {

namespace {

// The configured executor count, or with `executors = "auto"` the count that
// measured throughput on the node's own models picks (docs/scheduling.md,
// "Concurrency"); `note` gets the measurement for the log.
caf::expected<uint32_t> executor_count(const node_config& cfg, const std::vector<model_manifest>& catalogue,
                                       const calibration_backend& make, std::string& note) {
  if (!cfg.executors_auto)
    return cfg.executors;
  calibration_options opts;
  opts.cores = std::max(1u, std::thread::hardware_concurrency());
  opts.max_executors = std::min(opts.cores, opts.max_executors);
  auto rates = measure_executor_throughput(catalogue, make, opts);
  if (!rates)
    return rates.error();
  auto chosen = choose_executor_count(*rates);
  note = describe_executor_count(*rates, chosen);
  return chosen;
}

// Raises the process's descriptor limit to its hard limit: every client
// connection, kept mapping and blob read holds one, and the soft default
// (1,024 on Debian) lets a flood of idle connections lock clients out.
// Returns a line for the log when it changed the limit, or says why not.
std::string raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return "warning: cannot read the descriptor limit: " + std::string{std::strerror(errno)};
  if (lim.rlim_cur >= lim.rlim_max)
    return {};
  auto before = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
    return "warning: cannot raise the descriptor limit from " + std::to_string(before) + ": " +
           std::strerror(errno);
  return "descriptor limit raised from " + std::to_string(before) + " to " +
         std::to_string(lim.rlim_cur);
}

// Placement for whole-model serving: each model is one unit of its own
// bytes, sharing nothing, so a model held beside it earns it no credit.
std::shared_ptr<const std::map<std::string, placement_unit>>
whole_model_catalogue(const std::vector<model_manifest>& models) {
  auto out = std::make_shared<std::map<std::string, placement_unit>>();
  for (const auto& m : models) {
    auto& u = (*out)[m.name];
    u.name = m.name;
    u.blobs.emplace_back(skeleton_id_of("whole-model", m.name + ":" + std::to_string(m.version)),
                         parameter_bytes(m));
  }
  return out;
}

} // namespace

uint64_t node::device_bytes_in_use() const {
  if (whole_memory_)
    return whole_memory_->used();
  auto st = residency_->stats();
  return st.device.used_bytes + st.device.reserved_bytes;
}

caf::expected<std::unique_ptr<node>> node::start(const node_config& cfg, zmq::context_t* ctx,
                                                  backend_factory make_backend) {
  if (auto err = validate_config(cfg))
    return err;
  auto descriptors = raise_descriptor_limit();
  auto tier = make_device_tier(cfg);
  if (!tier)
    return tier.error();
  std::unique_ptr<node> n{new node};
  if (ctx == nullptr) {
    n->own_ctx_ = std::make_unique<zmq::context_t>(1);
    ctx = n->own_ctx_.get();
  }
  n->ctx_ = ctx;
  auto st = store::block_store::open(cfg.store_path, false);
  if (!st)
    return st.error();
  n->store_ = std::make_unique<store::block_store>(std::move(*st));
  n->store_->blobs().mappings().set_capacity(cfg.map_cache_bytes);
  auto made_read_only = n->store_->blobs().make_read_only(); // a store from before decision 43
  n->arena_ = std::move(tier->memory);
  n->residency_ = std::make_unique<residency::residency_manager>(
    *n->store_, *n->arena_, residency::residency_options::from(cfg));
  n->scrubber_ = std::make_unique<residency::scrubber>(*n->residency_, cfg.scrub_bytes_per_s);
  auto catalog = store::read_catalog(*n->store_);
  n->states_ = std::make_unique<model_states>();
  n->board_ = std::make_unique<executor_board>();
  auto catalogue = catalog->list_latest();
  n->residency_->learn_sharing_from(catalogue);
  // Actor threads: the pooled actors only route and queue (executors are
  // detached, sockets have their own threads), so one worker (actor_threads)
  // is the default: a request then crosses gateway, scheduler and remote
  // executor on one thread without waking another (decision 22). The sharing
  // policy wakes a worker as soon as work arrives; work stealing (CAF's
  // default) lets idle workers sleep 10 ms between polls, which shows up as
  // milliseconds of tail latency on every hop.
  n->system_config_.set("scheduler.max-threads", static_cast<size_t>(cfg.actor_threads));
  n->system_config_.set("scheduler.policy", caf::atom("sharing"));
  n->system_ = std::make_unique<caf::actor_system>(n->system_config_);
  // Concurrent executors share the cores: give each its part, so they do not
  // oversubscribe them (LibTorch's intra-op pool is per process).
  // Whole-model serving (the baseline of `tessera bench serve`) loads whole
  // TorchScript files into a budget of its own; the residency manager then
  // holds nothing.
  bool whole = cfg.serving == "whole_model";
  if (whole)
    n->whole_memory_ = std::make_shared<backend::whole_model_memory>(cfg.device_budget_bytes);
  auto whole_dir = cfg.whole_model_dir.empty() ? cfg.store_path + "/whole" : cfg.whole_model_dir;
  auto make_exec =
      [&](uint32_t i, uint32_t threads) -> caf::expected<std::unique_ptr<backend::model_executor>> {
    if (make_backend)
      return make_backend(i, *n->residency_);
    if (whole)
      return torch_backend::make_whole_model_executor({cfg.device, threads, whole_dir},
                                                      n->whole_memory_);
    torch_backend::torch_options opts;
    opts.device = cfg.device;
    opts.params_on_device = tier->on_device;
    opts.threads = threads;
    return torch_backend::make_torch_executor(opts, *n->residency_, n->store_->skeletons());
  };
  std::string auto_note;
  auto executors = executor_count(cfg, catalogue, make_exec, auto_note);
  if (!executors)
    return executors.error();
  uint32_t threads = cfg.torch_threads;
  if (threads == 0 && *executors > 1)
    threads = std::max(1u, std::thread::hardware_concurrency() / *executors);
  // One stream for all executors, so concurrent streams split one budget. A
  // tier that cannot stream, or a node whose streaming key is off, leaves it
  // null: oversized units are then refused.
  if (!make_backend && !whole && cfg.streaming && *executors > 0) {
    torch_backend::torch_options opts;
    opts.device = cfg.device;
    opts.params_on_device = tier->on_device;
    opts.threads = threads;
    if (auto s = start_node_stream(opts, *n->residency_, n->store_->skeletons()))
      n->stream_ = std::move(*s);
  }
  for (uint32_t i = 0; i < *executors; ++i) {
    auto exec = make_exec(i, threads);
    if (!exec)
      return exec.error();
    auto deps = std::make_shared<executor_deps>();
    deps->name = cfg.node_name + "/" + cfg.device + "/" + std::to_string(i);
    deps->exec = std::move(*exec);
    deps->residency = n->residency_.get();
    deps->store = n->store_.get();
    deps->stream = n->stream_;
    deps->groups = !whole && cfg.fusion;
    deps->catalog = catalog;
    deps->states = n->states_.get();
    deps->board = n->board_.get();
    n->executors_.push_back(spawn_executor(*n->system_, std::move(deps)));
  }
  // The registry reads the store from here on, and tells the executors of
  // each change (their groups come by message, not by reading the store).
  registry_options ropts;
  ropts.max_groups = cfg.max_groups;
  n->registry_ = spawn_registry(*n->system_, *n->store_, catalog, ropts);
  for (const auto& e : n->executors_)
    caf::anon_send(n->registry_, subscribe_atom::value, caf::actor_cast<caf::actor>(e));
  auto local = n->executors_;
  n->local_executors_ = *executors;
  std::vector<bool> up(n->executors_.size(), true);
  if (!cfg.peers.empty()) {
    // Peers come and go; the scheduler hears of it through the bridge's callback.
    n->peer_target_ = std::make_shared<actor_slot>();
    n->groups_target_ = std::make_shared<actor_slot>();
    std::weak_ptr<actor_slot> target = n->peer_target_;
    std::weak_ptr<actor_slot> groups = n->groups_target_;
    auto first_remote = static_cast<uint32_t>(n->executors_.size());
    auto bopts = bridge_options_for(cfg);
    if (!bopts)
      return bopts.error();
    auto b = bridge::start(
        *ctx, cfg.peers,
        [target, groups, first_remote](size_t p, bool is_up) {
          auto tell = [](const std::weak_ptr<actor_slot>& slot, uint32_t index, bool up) {
            caf::actor to;
            if (auto s = slot.lock()) {
              std::lock_guard<std::mutex> guard{s->mtx};
              to = s->actor;
            }
            if (to)
              caf::anon_send(to, peer_atom::value, index, up);
          };
          tell(target, static_cast<uint32_t>(first_remote + p), is_up);
          // The gateway defines the stored groups on a peer that comes (back) up.
          tell(groups, static_cast<uint32_t>(p), is_up);
        },
        *bopts);
    if (!b)
      return b.error();
    n->bridge_ = std::move(*b);
    for (size_t p = 0; p < cfg.peers.size(); ++p) {
      n->executors_.push_back(spawn_remote_executor(*n->system_, n->bridge_.get(), p, cfg.peers[p]));
      up.push_back(false); // until its first heartbeat
    }
  }
  // The loader serves the peers' fetches, and fetches what this node's store
  // lacks from `fetch_peers` (the peers by default) over a bridge of its own,
  // so blob transfers never queue behind the scheduler's requests.
  loader_options lopts;
  lopts.node_name = cfg.node_name;
  lopts.fetch_timeout = std::chrono::milliseconds(cfg.fetch_timeout_ms);
  // Only LibTorch executors read skeletons and blobs from the store; a node
  // without executors, or with the simulator's devices, needs manifests only.
  lopts.fetch_parts = *executors > 0 && !make_backend;
  const auto& fetch_from = cfg.fetch_peers.empty() ? cfg.peers : cfg.fetch_peers;
  if (!fetch_from.empty()) {
    auto bopts = bridge_options_for(cfg);
    if (!bopts)
      return bopts.error();
    auto b = bridge::start(*ctx, fetch_from, {}, *bopts);
    if (!b)
      return wrap(b.error(), "fetch_peers");
    n->fetch_bridge_ = std::move(*b);
    lopts.peers = n->fetch_bridge_.get();
  }
  n->loader_counters_ = lopts.counters;
  n->loader_ = spawn_loader(*n->system_, *n->store_, lopts);
  scheduler_options sopts;
  sopts.order = whole || cfg.queue_order == "fifo" ? queue_order::fifo
                : cfg.queue_order == "edf"         ? queue_order::edf
                                                   : queue_order::reuse_aware;
  sopts.max_batch_rows = cfg.max_batch_rows;
  sopts.shed_late = cfg.shed_late;
  sopts.max_queue_delay = std::chrono::microseconds(cfg.max_queue_delay_us);
  sopts.auto_fuse.enabled = cfg.auto_fuse && !whole && cfg.fusion;
  sopts.auto_fuse.store = n->store_.get();
  // Placement knows each model's blobs, so blobs resident for one model count
  // for the models that share them; this node's executors share one memory,
  // and each peer is a node of its own.
  sopts.placement.mode = cfg.placement == "any_idle" ? placement_mode::any_idle : placement_mode::scored;
  sopts.placement.catalog =
      whole ? whole_model_catalogue(catalogue) : placement_catalogue(catalogue);
  sopts.placement.nodes.assign(*executors, 0);
  for (uint32_t p = 0; p < cfg.peers.size(); ++p)
    sopts.placement.nodes.push_back(p + 1);
  n->scheduler_ = spawn_scheduler(*n->system_, n->executors_, up, sopts);
  if (n->peer_target_)
    n->set_peer_target(*n->peer_target_, caf::actor_cast<caf::actor>(n->scheduler_),
                       static_cast<uint32_t>(*executors));
  n->monitor_ = spawn_monitor(*n->system_, *n->residency_, local);
  // Level changes reach the monitor as they happen; the link is cut before the
  // actor system goes away.
  n->pressure_target_ = std::make_shared<caf::actor>(caf::actor_cast<caf::actor>(n->monitor_));
  std::weak_ptr<caf::actor> target = n->pressure_target_;
  n->residency_->on_pressure([target](pressure_level level, uint64_t, uint64_t) {
    if (auto t = target.lock())
      caf::anon_send(*t, pressure_atom::value, level);
  });
  // A blob found damaged is restored from a peer, where there are peers to
  // fetch from (decision 43); until then its models answer corrupt_blob.
  if (lopts.peers != nullptr && lopts.fetch_parts) {
    n->repair_target_ = std::make_shared<caf::actor>(caf::actor_cast<caf::actor>(n->loader_));
    std::weak_ptr<caf::actor> repairer = n->repair_target_;
    n->residency_->on_corrupt([repairer](const content_id& id) {
      if (auto t = repairer.lock())
        caf::anon_send(*t, repair_atom::value, id.to_hex());
    });
  }
  // The gateway's count of request bytes is read once the gateway is there.
  auto* counted = &n->gateway_counters_;
  n->host_memory_ = std::make_unique<residency::host_memory_keeper>(
      *n->residency_, *n->arena_, n->store_->blobs().mappings(),
      [counted] {
        const auto* c = counted->load();
        return c != nullptr ? c->in_flight_bytes.load() : uint64_t{0};
      },
      residency::host_memory_options{cfg.host_memory_budget});
  gateway_options gopts;
  auto log = std::make_shared<request_log>(
    log_options{cfg.node_name, cfg.log_level, cfg.log_format == "json", cfg.log_file});
  gopts.log = log;
  gopts.endpoint = cfg.listen;
  gopts.node_name = cfg.node_name;
  gopts.device = cfg.device;
  gopts.limits.max_message_bytes = cfg.max_message_bytes;
  gopts.max_in_flight = static_cast<size_t>(std::max<uint64_t>(1, cfg.max_in_flight_requests));
  gopts.backlog.max_bytes_per_peer = cfg.reply_backlog_bytes;
  gopts.backlog.stall_timeout = std::chrono::milliseconds(cfg.reply_stall_timeout_ms);
  gopts.handshake_timeout = std::chrono::milliseconds(
      std::min<uint64_t>(cfg.handshake_timeout_ms, std::numeric_limits<int32_t>::max()));
  gopts.max_in_flight_bytes = std::max<uint64_t>(cfg.max_in_flight_bytes, cfg.max_message_bytes);
  gopts.limits.max_tensor_bytes = std::min<size_t>(gopts.limits.max_tensor_bytes, cfg.max_message_bytes);
  if (auto err = apply_curve(cfg, gopts))
    return err;
  gopts.uplink.capacity_bytes_per_s = cfg.uplink_capacity_mbps * 1.0e6 / 8.0;
  gopts.uplink.executors = n->executors_.size();
  gateway_deps gdeps;
  gdeps.scheduler = n->scheduler_;
  gdeps.executors = n->executors_;
  gdeps.store = n->store_.get();
  gdeps.residency = n->residency_.get();
  gdeps.peers = n->bridge_.get();
  gdeps.loader = n->loader_;
  gdeps.fetch_from_peers = n->fetch_bridge_ != nullptr;
  gdeps.host_memory = n->host_memory_.get();
  gdeps.registry = n->registry_;
  gdeps.catalog = catalog;
  gdeps.states = n->states_.get();
  gdeps.board = n->board_.get();
  gdeps.local_executors = n->local_executors_;
  auto g = gateway::start(*n->system_, *ctx, std::move(gopts), std::move(gdeps));
  if (!g)
    return g.error();
  n->gateway_ = std::move(*g);
  n->gateway_counters_ = &n->gateway_->counters();
  if (n->groups_target_)
    n->set_peer_target(*n->groups_target_, n->gateway_->actor(), 0);
  if (!auto_note.empty())
    log->event(auto_note);
  if (!descriptors.empty())
    log->event(descriptors);
  if (auto open = open_bind_warning(cfg); !open.empty())
    log->event(open);
  if (made_read_only > 0)
    log->event("made " + std::to_string(made_read_only) +
               " writable blob files of the store "
               "read-only (0444)");
  if (cfg.mode == load_mode::in_place && n->residency_->options().mode != load_mode::in_place)
    log->event("warning: load_mode in_place refused: changes to the files of the store " +
               cfg.store_path +
               " cannot be watched on its file system (network or FUSE), "
               "so a changed file could serve wrong answers; blobs are copied into device "
               "memory and verified instead (decision 43)");
  log->event("started: serving " + n->gateway_->endpoint() + " with " + std::to_string(*executors)
                   + " executor(s) and " + std::to_string(cfg.peers.size()) + " peer(s)");
  n->node_name_ = cfg.node_name;
  // Tools that remove models from the store ask the nodes it records.
  auto record = store::serving_record::write(
      *n->store_,
      store::serving_node{static_cast<int>(::getpid()), cfg.node_name, n->gateway_->endpoint()});
  if (record)
    n->serving_.emplace(std::move(*record));
  else
    log->event("warning: this node is not recorded in " + cfg.store_path +
               "/serving, so `tessera models rm` cannot ask it what it holds: " +
               describe(record.error()));
  if (!cfg.metrics_listen.empty()) {
    auto* raw = n.get();
    auto m = metrics_server::start(
      cfg.metrics_listen, [raw] { return raw->metrics_text(); },
      [raw] {
        // Ready: it has executors of its own, or a peer that is up.
        auto peers = raw->peers();
        return raw->executors_.size() > peers.size()
               || std::any_of(peers.begin(), peers.end(), [](const auto& p) { return p.up; });
      });
    if (!m)
      return m.error();
    n->metrics_ = std::move(*m);
  }
  return n;
}

std::vector<peer_status> node::peers() const {
  return bridge_ ? bridge_->peers() : std::vector<peer_status>{};
}

std::vector<peer_status> node::fetch_peers() const {
  return fetch_bridge_ ? fetch_bridge_->peers() : std::vector<peer_status>{};
}

void node::set_peer_target(actor_slot& slot, caf::actor to, uint32_t first_index) {
  {
    std::lock_guard<std::mutex> guard{slot.mtx};
    slot.actor = to;
  }
  // Peers that came up before `to` was there: told now (telling twice is harmless).
  auto states = bridge_ ? bridge_->peers() : std::vector<peer_status>{};
  for (size_t p = 0; p < states.size(); ++p)
    if (states[p].up)
      caf::anon_send(to, peer_atom::value, static_cast<uint32_t>(first_index + p), true);
}

node::~node() {
  serving_.reset();
  metrics_.reset();
  host_memory_.reset(); // it reads the gateway's counters
  if (gateway_)
    gateway_->stop();
  gateway_.reset();
  pressure_target_.reset();
  repair_target_.reset();
  peer_target_.reset();
  groups_target_.reset();
  if (system_) {
    for (auto& e : executors_)
      caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(scheduler_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(monitor_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(loader_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(registry_, caf::exit_reason::user_shutdown);
    executors_.clear();
    registry_ = nullptr;
    scheduler_ = nullptr;
    monitor_ = nullptr;
    loader_ = nullptr;
    system_->await_all_actors_done();
  }
  // Remote executors hold the bridge, so it goes once they are done; what it
  // still has in flight fails into their (closed) mailboxes while the actor
  // system that owns them exists.
  bridge_.reset();
  fetch_bridge_.reset();
  system_.reset();
  stream_.reset();
}

} // namespace tessera::actors
