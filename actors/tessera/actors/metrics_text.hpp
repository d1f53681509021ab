// The Prometheus text exposition (format 0.0.4) of a node's metrics, as pure
// functions: collect_node_metrics turns plain snapshots (gateway counters,
// residency stats, peers, executors) into metric families, and
// render_exposition writes them. The metrics server calls both per scrape.
#pragma once

#include "tessera/actors/bridge.hpp"
#include "tessera/actors/messages.hpp"
#include "tessera/actors/model_states.hpp"
#include "tessera/actors/request_metrics.hpp"
#include "tessera/residency/residency_stats.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tessera::actors {

using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// One line of a family: a name suffix ("", "_bucket", "_sum", "_count"),
/// labels and a value.
struct metric_sample {
  std::string suffix;
  metric_labels labels;
  double value = 0.0;
};

/// Samples sharing one name, HELP text and TYPE (counter, gauge, histogram).
struct metric_family {
  std::string name;
  std::string help;
  std::string type;
  std::vector<metric_sample> samples;
};

/// Appends a histogram's _bucket (cumulative, le in seconds), _sum and _count.
void add_histogram(metric_family& family, const metric_labels& labels, const latency_histogram& h);

/// Escapes a label value (backslash, double quote, newline).
std::string escape_label_value(const std::string& value);

/// The text exposition of `families`, in their order.
std::string render_exposition(const std::vector<metric_family>& families);

/// Everything a scrape reads, copied out of the node's parts.
struct node_metrics_input {
  std::string node_name;
  double uptime_seconds = 0.0;
  uint64_t received = 0;
  uint64_t in_flight = 0;
  uint64_t expired = 0;
  uint64_t backlog_replies = 0;
  uint64_t dropped_client_gone = 0;
  uint64_t dropped_client_not_reading = 0;
  uint64_t dropped_backlog_full = 0;
  request_metrics_snapshot requests;
  residency::residency_stats residency;
  residency::host_memory_stats host_memory;
  residency::store_tier_stats store;
  std::vector<peer_status> peers;
  /// Absent when the scheduler did not answer in time.
  std::optional<std::vector<executor_state>> executors;
  /// Jobs in the scheduler's queue; absent when it did not answer in time.
  std::optional<uint64_t> queued;
  uint64_t curve_admitted = 0;
  uint64_t curve_refused = 0;
  /// What the loader fetched from peers and served to them.
  uint64_t fetched_blobs = 0;
  uint64_t fetched_skeletons = 0;
  uint64_t fetched_manifests = 0;
  uint64_t fetched_bytes = 0;
  uint64_t fetch_failures = 0;
  uint64_t served_blobs = 0;
  uint64_t restored_blobs = 0;
  uint64_t restore_failures = 0;
  uint64_t served_bytes = 0;
  /// The lifecycle state of every unit this node's executors hold, work on,
  /// or failed to load (model_states::all()).
  std::map<std::string, unit_state> units;
};

/// The node's metric families, every name prefixed with `tessera_`.
std::vector<metric_family> collect_node_metrics(const node_metrics_input& in);

} // namespace tessera::actors
