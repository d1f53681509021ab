// What the gateway counts about the requests it answers, for /metrics:
// answers per operation, model and outcome code, latency histograms, the
// stages an inference reported (queue, load, run) and deadline hits and misses.
// The gateway's socket thread records; the metrics server reads snapshots.
#pragma once

#include "tessera/actors/latency_histogram.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace tessera::actors {

/// An answered request's labels.
struct request_labels {
  std::string operation;
  std::string model; ///< empty when the request names none (or a bad one)
  std::string code;  ///< "ok" or the error code's name

  bool operator<(const request_labels& other) const {
    return std::tie(operation, model, code) < std::tie(other.operation, other.model, other.code);
  }
};

/// A consistent copy of everything request_metrics has counted.
struct request_metrics_snapshot {
  std::map<request_labels, uint64_t> answered;
  /// Keyed like `answered`: operation, model and outcome code.
  std::map<request_labels, latency_histogram> latency;
  /// Stages of successful inferences, keyed by model.
  std::map<std::string, latency_histogram> queue, load, run;
  uint64_t deadline_met = 0;
  uint64_t deadline_missed = 0;
};

class request_metrics {
public:
  /// Distinct model labels kept; later names count under "other", so a client
  /// sending random names cannot grow the exposition without bound.
  static constexpr size_t max_models = 256;

  /// One answered request and how long it took from arrival to answer.
  void record(const std::string& operation, const std::string& model, const std::string& code,
              double latency_ms);

  /// The stages a successful inference reported.
  void record_stages(const std::string& model, double queue_ms, double load_ms, double run_ms);

  /// A request that had a deadline was answered in time (or not).
  void record_deadline(bool met);

  request_metrics_snapshot snapshot() const;

private:
  std::string model_label(const std::string& model);

  mutable std::mutex mtx_;
  request_metrics_snapshot data_;
  std::map<std::string, bool> models_seen_;
};

} // namespace tessera::actors
