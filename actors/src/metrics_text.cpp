#include "tessera/actors/metrics_text.hpp"

#include <cmath>
#include <cstdio>

namespace tessera::actors {

namespace {

std::string number_text(double v) {
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v))
    return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

metric_family family(std::string name, std::string help, std::string type) {
  return metric_family{"tessera_" + std::move(name), std::move(help), std::move(type), {}};
}

void add(metric_family& f, metric_labels labels, double value) {
  f.samples.push_back(metric_sample{"", std::move(labels), value});
}

metric_family gauge(std::string name, std::string help, double value) {
  auto f = family(std::move(name), std::move(help), "gauge");
  add(f, {}, value);
  return f;
}

metric_family counter(std::string name, std::string help, double value) {
  auto f = family(std::move(name), std::move(help), "counter");
  add(f, {}, value);
  return f;
}

// The loader's traffic with peer loaders (docs/cluster.md, "Peer fetch").
void add_fetch_families(std::vector<metric_family>& out, const node_metrics_input& in) {
  auto parts = family("peer_fetched_parts_total",
                      "Model parts fetched from peer loaders into the store, by kind.", "counter");
  add(parts, {{"kind", "blob"}}, static_cast<double>(in.fetched_blobs));
  add(parts, {{"kind", "skeleton"}}, static_cast<double>(in.fetched_skeletons));
  add(parts, {{"kind", "manifest"}}, static_cast<double>(in.fetched_manifests));
  out.push_back(std::move(parts));
  out.push_back(counter("peer_fetched_bytes_total",
                        "Tensor bytes of the blobs fetched from peer loaders.",
                        static_cast<double>(in.fetched_bytes)));
  out.push_back(counter("peer_fetch_failures_total",
                        "Fetches from one peer that failed (missing, corrupt, down or too slow).",
                        static_cast<double>(in.fetch_failures)));
  out.push_back(counter("peer_served_blobs_total", "Blobs this node's loader sent to peers.",
                        static_cast<double>(in.served_blobs)));
  out.push_back(counter("peer_served_bytes_total", "Tensor bytes of the blobs sent to peers.",
                        static_cast<double>(in.served_bytes)));
  auto restores = family("blob_restores_total",
                         "Damaged blob files restored in place with a good copy from a peer, "
                         "and restores no peer could provide for.",
                         "counter");
  add(restores, {{"outcome", "restored"}}, static_cast<double>(in.restored_blobs));
  add(restores, {{"outcome", "failed"}}, static_cast<double>(in.restore_failures));
  out.push_back(std::move(restores));
}

void add_request_families(std::vector<metric_family>& out, const request_metrics_snapshot& r) {
  auto answered = family("requests_total",
                         "Requests answered, by operation, model and outcome code.", "counter");
  for (const auto& [labels, n] : r.answered)
    add(answered, {{"operation", labels.operation}, {"model", labels.model}, {"code", labels.code}},
        static_cast<double>(n));
  out.push_back(std::move(answered));
  auto latency = family("request_duration_seconds",
                        "Time from a request's arrival to its answer, by operation, model and "
                        "outcome code.",
                        "histogram");
  for (const auto& [key, h] : r.latency)
    add_histogram(latency, {{"operation", key.operation}, {"model", key.model}, {"code", key.code}},
                  h);
  out.push_back(std::move(latency));
  const std::pair<const char*, const std::map<std::string, latency_histogram>*> stages[] = {
      {"queue", &r.queue}, {"load", &r.load}, {"run", &r.run}};
  auto stage = family("infer_stage_seconds",
                      "Stages of successful inferences: queue (waiting for an executor), load "
                      "(bringing blocks in), run (compute).",
                      "histogram");
  for (const auto& [name, per_model] : stages)
    for (const auto& [model, h] : *per_model)
      add_histogram(stage, {{"stage", name}, {"model", model}}, h);
  out.push_back(std::move(stage));
  auto deadlines =
      family("deadlines_total", "Requests with a deadline, by whether it was met.", "counter");
  add(deadlines, {{"outcome", "met"}}, static_cast<double>(r.deadline_met));
  add(deadlines, {{"outcome", "missed"}}, static_cast<double>(r.deadline_missed));
  out.push_back(std::move(deadlines));
}

void add_host_memory_families(std::vector<metric_family>& out,
                              const residency::host_memory_stats& h) {
  out.push_back(gauge("host_memory_budget_bytes",
                      "The host memory budget (host_memory_budget); 0: none.",
                      static_cast<double>(h.budget_bytes)));
  auto kept = family("host_memory_bytes",
                     "What the node keeps beyond what its loaded models hold, by part; the "
                     "host memory budget bounds their sum.",
                     "gauge");
  auto trimmed =
      family("host_memory_trimmed_bytes_total",
             "Bytes given back to keep within the host memory budget, by part.", "counter");
  const std::tuple<const char*, uint64_t, uint64_t> parts[] = {
      {"mapped_files", h.now.mapped_files, h.trimmed.mapped_files},
      {"kept_device", h.now.kept_device, h.trimmed.kept_device},
      {"kept_blocks", h.now.kept_blocks, h.trimmed.kept_blocks},
      {"request_buffers", h.now.request_buffers, h.trimmed.request_buffers}};
  for (const auto& [part, now, given] : parts) {
    add(kept, {{"part", part}}, static_cast<double>(now));
    add(trimmed, {{"part", part}}, static_cast<double>(given));
  }
  out.push_back(std::move(kept));
  out.push_back(std::move(trimmed));
  out.push_back(counter("heap_returns_total",
                        "Times freed heap went back to the system (after a burst of requests "
                        "drained).",
                        static_cast<double>(h.heap_returns)));
}

void add_residency_families(std::vector<metric_family>& out, const residency::residency_stats& s) {
  auto device =
      family("device_bytes", "Device-tier bytes by state (budget is the limit).", "gauge");
  const std::pair<const char*, uint64_t> states[] = {
      {"budget", s.device.budget_bytes},     {"used", s.device.used_bytes},
      {"reserved", s.device.reserved_bytes}, {"referenced", s.device.referenced_bytes},
      {"cached", s.device.cached_bytes},     {"pinned", s.device.pinned_bytes},
      {"detached", s.device.detached_bytes}, {"allocator_kept", s.device.allocator_kept_bytes}};
  for (const auto& [state, bytes] : states)
    add(device, {{"state", state}}, static_cast<double>(bytes));
  out.push_back(std::move(device));
  auto host =
      family("host_bytes",
             "Host-tier bytes: the staging pool, device bytes that are mapped host memory, and the "
             "store's blob files kept mapped for copy-mode reads.",
             "gauge");
  add(host, {{"state", "staging"}}, static_cast<double>(s.host.staging_bytes));
  add(host, {{"state", "staging_in_use"}}, static_cast<double>(s.host.staging_in_use_bytes));
  add(host, {{"state", "aliased"}}, static_cast<double>(s.host.aliased_bytes));
  add(host, {{"state", "store_mapped"}}, static_cast<double>(s.host.store_mapped_bytes));
  out.push_back(std::move(host));
  out.push_back(gauge("resident_blobs", "Blobs resident in the device tier.",
                      static_cast<double>(s.device.resident_blobs)));
  out.push_back(gauge("resident_models", "Models holding a lease on the device tier.",
                      static_cast<double>(s.resident_models.size())));
  const auto& c = s.counters;
  auto loads = family("loads_total", "Model loads, by outcome.", "counter");
  add(loads, {{"outcome", "granted"}}, static_cast<double>(c.loads));
  add(loads, {{"outcome", "refused"}}, static_cast<double>(c.refused_loads));
  add(loads, {{"outcome", "failed"}}, static_cast<double>(c.failed_loads));
  out.push_back(std::move(loads));
  out.push_back(counter("unloads_total", "Model unloads.", static_cast<double>(c.unloads)));
  auto lookups =
      family("blob_lookups_total",
             "Blobs loads asked the device tier for: hit (resident, shared), join (in flight, "
             "shared) or miss (read from the store). The host tier keeps no cache of its own.",
             "counter");
  add(lookups, {{"tier", "device"}, {"result", "hit"}}, static_cast<double>(c.blob_hits));
  add(lookups, {{"tier", "device"}, {"result", "join"}}, static_cast<double>(c.blob_joins));
  add(lookups, {{"tier", "device"}, {"result", "miss"}}, static_cast<double>(c.blobs_read));
  out.push_back(std::move(lookups));
  out.push_back(counter("store_read_bytes_total", "Bytes read from the store into the device tier.",
                        static_cast<double>(c.bytes_read)));
  out.push_back(counter("prefetched_blobs_total", "Blobs brought in by prefetch.",
                        static_cast<double>(c.prefetched_blobs)));
  out.push_back(counter("readahead_blobs_total",
                        "Blob files the kernel was asked to read ahead of a load from the disk.",
                        static_cast<double>(c.readahead_blobs)));
  out.push_back(counter("host_to_device_copies_total", "Host-to-device copies (copy mode).",
                        static_cast<double>(c.copies)));
  out.push_back(counter("failed_blob_reads_total", "Blob reads that failed.",
                        static_cast<double>(c.failed_blob_reads)));
  auto evictions = family("evictions_total",
                          "Blobs evicted from the device tier, by reason: load (room for a load, "
                          "chosen by the eviction policy) or drop_cached (every cached blob "
                          "dropped, under memory pressure or before a load is retried).",
                          "counter");
  add(evictions, {{"reason", "load"}}, static_cast<double>(c.evictions - c.evictions_dropped));
  add(evictions, {{"reason", "drop_cached"}}, static_cast<double>(c.evictions_dropped));
  out.push_back(std::move(evictions));
  auto integrity = family("blob_integrity_total",
                          "Integrity of resident blobs after their load (decision 43): changes "
                          "the watch saw to the files of blobs used in place, re-hashes, blobs "
                          "found not to match their id, and runs discarded because a file they "
                          "used changed while they ran.",
                          "counter");
  add(integrity, {{"event", "file_changed"}}, static_cast<double>(c.blob_file_changes));
  add(integrity, {{"event", "rehashed"}}, static_cast<double>(c.blobs_rehashed));
  add(integrity, {{"event", "found_bad"}}, static_cast<double>(c.blobs_found_changed));
  add(integrity, {{"event", "run_discarded"}}, static_cast<double>(c.runs_discarded));
  out.push_back(std::move(integrity));
  auto scrub = family("scrub_total",
                      "The background scrub of resident blobs (scrub_bytes_per_s): passes "
                      "completed over every resident blob, blobs and bytes hashed, and blobs "
                      "whose bytes no longer matched their id.",
                      "counter");
  add(scrub, {{"what", "passes"}}, static_cast<double>(s.scrub.passes));
  add(scrub, {{"what", "blobs"}}, static_cast<double>(s.scrub.blobs));
  add(scrub, {{"what", "bytes"}}, static_cast<double>(s.scrub.bytes));
  add(scrub, {{"what", "mismatches"}}, static_cast<double>(s.scrub.mismatches));
  out.push_back(std::move(scrub));
  out.push_back(counter("evicted_bytes_total", "Bytes evicted from the device tier.",
                        static_cast<double>(c.bytes_evicted)));
  auto pressure = family("memory_pressure_level",
                         "Memory pressure: 0 normal, 1 low, 2 high, 3 critical.", "gauge");
  add(pressure, {{"level", to_string(s.pressure)}},
      static_cast<double>(static_cast<int>(s.pressure)));
  out.push_back(std::move(pressure));
}

/// Every executor's models and jobs; swaps and loads only for this node's own
/// executors (a peer's count on that peer).
void add_executor_families(std::vector<metric_family>& out,
                           const std::vector<executor_state>& executors) {
  auto loaded = family("executor_loaded_models", "Models an executor holds loaded.", "gauge");
  auto served = family("executor_served_total", "Jobs an executor has run.", "counter");
  auto swaps = family("executor_swaps_total",
                      "Models an executor swapped out, by reason: memory_pressure (the monitor "
                      "asked) or load (room for another model).",
                      "counter");
  auto lookups = family("executor_model_lookups_total",
                        "Jobs and loads by whether the executor held the model already (hit) or "
                        "loaded it (miss).",
                        "counter");
  auto duration =
      family("model_load_duration_seconds",
             "Time to load a model: reading the blobs it lacked, then binding.", "histogram");
  auto bytes = family("model_load_bytes_total",
                      "Parameter bytes of the models loaded: shared (already resident or in flight "
                      "for another load) or unshared (read from the store).",
                      "counter");
  for (const auto& e : executors) {
    metric_labels who{{"executor", e.name}};
    add(loaded, who, static_cast<double>(e.loaded.size()));
    add(served, who, static_cast<double>(e.served));
    if (e.remote)
      continue;
    add(swaps, {{"executor", e.name}, {"reason", "memory_pressure"}},
        static_cast<double>(e.swaps_out_pressure));
    add(swaps, {{"executor", e.name}, {"reason", "load"}},
        static_cast<double>(e.swaps_out - e.swaps_out_pressure));
    add(lookups, {{"executor", e.name}, {"result", "hit"}}, static_cast<double>(e.loads.held));
    add(lookups, {{"executor", e.name}, {"result", "miss"}}, static_cast<double>(e.loads.loaded));
    add_histogram(duration, who, e.loads.duration);
    add(bytes, {{"executor", e.name}, {"sharing", "shared"}},
        static_cast<double>(e.loads.shared_bytes));
    add(bytes, {{"executor", e.name}, {"sharing", "unshared"}},
        static_cast<double>(e.loads.read_bytes));
  }
  for (auto* f : {&loaded, &served, &swaps, &lookups, &duration, &bytes})
    out.push_back(std::move(*f));
}

/// What the streamed runs of this node's own executors did (units too large
/// to hold, run block by block; docs/swapping.md).
void add_stream_families(std::vector<metric_family>& out, const std::vector<executor_state>& executors) {
  auto runs = family("stream_runs_total", "Streamed runs, by result (ok or failed).", "counter");
  auto blocks = family("stream_blocks_total",
                       "Blocks streamed runs ran, and of them those loaded alone under a budget "
                       "below them (forced), prefetched and given back when the budget shrank "
                       "(trimmed), or not loaded yet when their run reached them (waited).",
                       "counter");
  auto bytes = family("stream_bytes_total",
                      "Parameter bytes streamed runs read from the store (read) and copied after "
                      "the read (copied, staging to device).",
                      "counter");
  auto copies = family("stream_copies_total", "Copies after the read (staging to device).", "counter");
  auto seconds = family("stream_seconds_total",
                        "Time streamed blocks computed (compute), and runs waited for their "
                        "blocks (wait).",
                        "counter");
  auto peak = family("stream_peak_held_bytes", "The most bytes one streamed run held at once.", "gauge");
  for (const auto& e : executors) {
    if (e.remote)
      continue;
    const auto& s = e.streams;
    auto with = [&](const char* key, const char* value) { return metric_labels{{"executor", e.name}, {key, value}}; };
    add(runs, with("result", "ok"), static_cast<double>(s.runs));
    add(runs, with("result", "failed"), static_cast<double>(s.failed_runs));
    add(blocks, with("kind", "run"), static_cast<double>(s.blocks));
    add(blocks, with("kind", "forced"), static_cast<double>(s.forced_blocks));
    add(blocks, with("kind", "trimmed"), static_cast<double>(s.trimmed_blocks));
    add(blocks, with("kind", "waited"), static_cast<double>(s.waited_blocks));
    add(bytes, with("kind", "read"), static_cast<double>(s.bytes_read));
    add(bytes, with("kind", "copied"), static_cast<double>(s.bytes_copied));
    add(copies, {{"executor", e.name}}, static_cast<double>(s.copies));
    add(seconds, with("phase", "compute"), s.compute_ms / 1000.0);
    add(seconds, with("phase", "wait"), s.wait_ms / 1000.0);
    add(peak, {{"executor", e.name}}, static_cast<double>(s.peak_held_bytes));
  }
  for (auto* f : {&runs, &blocks, &bytes, &copies, &seconds, &peak})
    out.push_back(std::move(*f));
}

} // namespace

std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void add_histogram(metric_family& f, const metric_labels& labels, const latency_histogram& h) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    auto with_le = labels;
    with_le.emplace_back(
        "le", i < latency_bounds_ms.size() ? number_text(latency_bounds_ms[i] / 1000.0) : "+Inf");
    f.samples.push_back(
        metric_sample{"_bucket", std::move(with_le), static_cast<double>(cumulative)});
  }
  f.samples.push_back(metric_sample{"_sum", labels, h.sum_ms / 1000.0});
  f.samples.push_back(metric_sample{"_count", labels, static_cast<double>(h.count)});
}

std::string render_exposition(const std::vector<metric_family>& families) {
  std::string out;
  for (const auto& f : families) {
    out += "# HELP " + f.name + " " + f.help + "\n";
    out += "# TYPE " + f.name + " " + f.type + "\n";
    for (const auto& s : f.samples) {
      out += f.name + s.suffix;
      if (!s.labels.empty()) {
        out += "{";
        for (size_t i = 0; i < s.labels.size(); ++i)
          out += (i == 0 ? "" : ",") + s.labels[i].first + "=\"" +
                 escape_label_value(s.labels[i].second) + "\"";
        out += "}";
      }
      out += " " + number_text(s.value) + "\n";
    }
  }
  return out;
}

std::vector<metric_family> collect_node_metrics(const node_metrics_input& in) {
  std::vector<metric_family> out;
  auto info = family("node_info", "Constant 1, labelled with the node's name.", "gauge");
  add(info, {{"node", in.node_name}}, 1);
  out.push_back(std::move(info));
  out.push_back(gauge("uptime_seconds", "Seconds since the node started.", in.uptime_seconds));
  out.push_back(counter("requests_received_total",
                        "Requests the gateway received (decodable or not).",
                        static_cast<double>(in.received)));
  out.push_back(gauge("requests_in_flight", "Requests received and not yet answered.",
                      static_cast<double>(in.in_flight)));
  out.push_back(counter("requests_expired_total",
                        "Requests the gateway answered itself at their deadline.",
                        static_cast<double>(in.expired)));
  out.push_back(gauge("reply_backlog", "Replies waiting for slow clients to take them.",
                      static_cast<double>(in.backlog_replies)));
  auto drops = family("replies_dropped_total",
                      "Replies not delivered, by reason: client_gone (its connection closed), "
                      "client_not_reading (its backlog did not move for reply_stall_timeout_ms), "
                      "backlog_full (it had reply_backlog_bytes waiting).",
                      "counter");
  add(drops, {{"reason", "client_gone"}}, static_cast<double>(in.dropped_client_gone));
  add(drops, {{"reason", "client_not_reading"}},
      static_cast<double>(in.dropped_client_not_reading));
  add(drops, {{"reason", "backlog_full"}}, static_cast<double>(in.dropped_backlog_full));
  out.push_back(std::move(drops));
  add_request_families(out, in.requests);
  out.push_back(gauge("store_bytes", "Tensor bytes in the store tier (on disk).",
                      static_cast<double>(in.store.bytes)));
  out.push_back(
      gauge("store_blobs", "Blobs in the store tier.", static_cast<double>(in.store.blobs)));
  add_residency_families(out, in.residency);
  add_host_memory_families(out, in.host_memory);
  auto peer_up =
      family("peer_up", "1 when a peer answers its heartbeats, 0 when it is down.", "gauge");
  auto peer_requests =
      family("peer_requests_total", "Requests sent to a peer, by outcome.", "counter");
  for (const auto& p : in.peers) {
    add(peer_up, {{"peer", p.endpoint}}, p.up ? 1 : 0);
    add(peer_requests, {{"peer", p.endpoint}, {"outcome", "sent"}},
        static_cast<double>(p.requests));
    add(peer_requests, {{"peer", p.endpoint}, {"outcome", "failed"}},
        static_cast<double>(p.failures));
  }
  out.push_back(std::move(peer_up));
  out.push_back(std::move(peer_requests));
  if (in.queued)
    out.push_back(gauge("scheduler_queued_jobs",
                        "Jobs waiting in the scheduler's queue for an executor.",
                        static_cast<double>(*in.queued)));
  if (in.executors) {
    add_executor_families(out, *in.executors);
    add_stream_families(out, *in.executors);
  }
  auto states = family("model_state",
                       "Lifecycle state of each unit (\"name:version\") this node's executors "
                       "hold, work on or failed to load: 1 for its state, 0 for the others.",
                       "gauge");
  for (const auto& [unit, s] : in.units)
    for (auto each : all_model_states)
      add(states, {{"unit", unit}, {"state", to_string(each)}}, each == s.state ? 1 : 0);
  out.push_back(std::move(states));
  auto curve = family("curve_handshakes_total",
                      "CURVE handshakes the ZAP handler answered, by result.", "counter");
  add(curve, {{"result", "admitted"}}, static_cast<double>(in.curve_admitted));
  add(curve, {{"result", "refused"}}, static_cast<double>(in.curve_refused));
  out.push_back(std::move(curve));
  add_fetch_families(out, in);
  return out;
}

} // namespace tessera::actors
