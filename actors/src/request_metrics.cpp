#include "tessera/actors/request_metrics.hpp"

namespace tessera::actors {

std::string request_metrics::model_label(const std::string& model) {
  if (model.empty() || models_seen_.count(model) > 0)
    return model;
  if (models_seen_.size() >= max_models)
    return "other";
  models_seen_.emplace(model, true);
  return model;
}

void request_metrics::record(const std::string& operation, const std::string& model,
                             const std::string& code, double latency_ms) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto label = model_label(model);
  request_labels key{operation, label, code};
  ++data_.answered[key];
  data_.latency[key].observe(latency_ms);
}

void request_metrics::record_stages(const std::string& model, double queue_ms, double load_ms,
                                    double run_ms) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto label = model_label(model);
  data_.queue[label].observe(queue_ms);
  data_.load[label].observe(load_ms);
  data_.run[label].observe(run_ms);
}

void request_metrics::record_deadline(bool met) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++(met ? data_.deadline_met : data_.deadline_missed);
}

request_metrics_snapshot request_metrics::snapshot() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return data_;
}

} // namespace tessera::actors
