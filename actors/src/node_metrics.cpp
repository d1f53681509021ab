// One scrape of a node: copies the gateway's counters, the residency stats,
// the store's totals, the peers, the scheduler's queue length, the states
// this node's executors published and the peers' executors' states (asked,
// with a short timeout) into the pure exposition builder.
#include "tessera/actors/metrics_text.hpp"
#include "tessera/actors/node.hpp"
#include "tessera/residency/residency_manager.hpp"

#include <caf/all.hpp>

namespace tessera::actors {

std::string node::metrics_text() {
  node_metrics_input in;
  in.node_name = node_name_;
  in.uptime_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const auto& c = gateway_->counters();
  in.received = c.received.load();
  in.in_flight = c.in_flight.load();
  in.expired = c.expired.load();
  in.backlog_replies = c.backlog_replies.load();
  in.dropped_client_gone = c.replies_dropped.client_gone.load();
  in.dropped_client_not_reading = c.replies_dropped.client_not_reading.load();
  in.dropped_backlog_full = c.replies_dropped.backlog_full.load();
  in.requests = c.requests.snapshot();
  in.residency = residency_->stats();
  in.host_memory = host_memory_->stats();
  in.store = residency::store_tier_of(*store_);
  in.peers = peers();
  if (auto* zap = gateway_->zap()) {
    in.curve_admitted = zap->admitted();
    in.curve_refused = zap->refused();
  }
  const auto& f = *loader_counters_;
  in.fetched_blobs = f.fetched_blobs.load();
  in.fetched_skeletons = f.fetched_skeletons.load();
  in.fetched_manifests = f.fetched_manifests.load();
  in.fetched_bytes = f.fetched_bytes.load();
  in.fetch_failures = f.fetch_failures.load();
  in.served_blobs = f.served_blobs.load();
  in.restored_blobs = f.restored_blobs.load();
  in.restore_failures = f.restore_failures.load();
  in.served_bytes = f.served_bytes.load();
  in.units = states_->all();
  caf::scoped_actor self{*system_};
  self->request(scheduler_, std::chrono::milliseconds(500), status_atom::value, queue_atom::value)
      .receive([&](uint64_t queued) { in.queued = queued; },
               [&](caf::error&) {
                 // Left out of this scrape, like the executors below.
               });
  // This node's executors as they published their states (never asked: one
  // that is busy would answer nothing, and its series would vanish), then
  // each peer's remote executor, asked (one that does not answer in time is
  // left out of this scrape).
  in.executors = board_->all();
  for (size_t i = local_executors_; i < executors_.size(); ++i)
    self->request(executors_[i], std::chrono::milliseconds(500), status_atom::value)
        .receive([&](executor_state& s) { in.executors->push_back(std::move(s)); },
                 [&](caf::error&) {});
  return render_exposition(collect_node_metrics(in));
}

} // namespace tessera::actors
