#include "tessera/sim/sim_report.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

namespace tessera::sim {

namespace {

std::string fmt(const char* spec, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty())
    return 0.0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

caf::error open_for_write(std::ofstream& out, const std::string& path) {
  out.open(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return make_error(ec::io_error, "cannot write " + path);
  return {};
}

// The most one node held at once: its executors' resident bytes summed at
// each moment one of them changed (after each job).
uint64_t peak_node_resident(const cluster_world& w) {
  std::map<uint32_t, std::vector<std::pair<double, std::pair<size_t, uint64_t>>>> changes;
  for (size_t i = 0; i < w.slots.size(); ++i)
    for (const auto& sp : w.slots[i].spans)
      changes[w.slots[i].node].push_back({sp.end_ms, {i, sp.resident_bytes}});
  uint64_t peak = 0;
  for (auto& [node, list] : changes) {
    std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::map<size_t, uint64_t> held;
    for (const auto& [when, change] : list) {
      held[change.first] = change.second;
      uint64_t total = 0;
      for (const auto& [slot, bytes] : held)
        total += bytes;
      peak = std::max(peak, total);
    }
  }
  return peak;
}

} // namespace

const char* to_string(request_status s) {
  switch (s) {
    case request_status::pending:
      return "lost";
    case request_status::met:
      return "met";
    case request_status::missed:
      return "missed";
    case request_status::failed:
      return "failed";
  }
  return "?";
}

std::string run_stem(const cluster_run& run) {
  return (run.config.empty() ? std::string{} : run.config + "_") + to_string(run.policy) + "_x" + fmt("%.2f", run.level);
}

run_summary summarize(const cluster_run& run) {
  run_summary s;
  s.config = run.config.empty() ? "-" : run.config;
  s.policy = to_string(run.policy);
  s.level = run.level;
  s.events = run.events;
  std::vector<double> latency;
  double first = 0.0;
  for (const auto& r : run.world.records) {
    ++s.requests;
    if (r.answers != 1 || r.status == request_status::pending)
      ++s.lost;
    if (r.status == request_status::met)
      ++s.met;
    else if (r.status == request_status::missed)
      ++s.missed;
    else if (r.status == request_status::failed)
      ++s.failed;
    if (r.status == request_status::met || (r.status == request_status::missed && r.end_ms >= 0.0)) {
      latency.push_back(r.end_ms - r.arrival_ms);
      s.makespan_ms = std::max(s.makespan_ms, r.end_ms);
    }
    s.makespan_ms = std::max(s.makespan_ms, r.arrival_ms);
  }
  if (!run.world.records.empty())
    first = run.world.records.front().arrival_ms;
  s.makespan_ms -= first;
  s.hit_rate = s.requests == 0 ? 0.0 : static_cast<double>(s.met) / static_cast<double>(s.requests);
  double secs = std::max(1.0e-9, s.makespan_ms / 1000.0);
  s.completed_per_s = static_cast<double>(latency.size()) / secs;
  s.met_per_s = static_cast<double>(s.met) / secs;
  s.p50_ms = percentile(latency, 0.50);
  s.p99_ms = percentile(latency, 0.99);
  double sum = 0.0;
  for (double l : latency)
    sum += l;
  s.mean_ms = latency.empty() ? 0.0 : sum / static_cast<double>(latency.size());
  s.peak_resident_bytes = peak_node_resident(run.world);
  for (const auto& sl : run.world.slots) {
    s.loaded_bytes += sl.loaded_bytes;
    s.switches += sl.switches;
    s.evictions += sl.evictions;
  }
  return s;
}

caf::error write_requests_csv(const cluster_run& run, const std::string& path) {
  std::ofstream out;
  if (auto err = open_for_write(out, path))
    return err;
  out << "id,model,arrival_ms,deadline_ms,start_ms,end_ms,status,met,node,load_ms\n";
  for (const auto& r : run.world.records)
    out << r.id << ',' << r.model << ',' << fmt("%.3f", r.arrival_ms) << ',' << fmt("%.3f", r.deadline_ms) << ','
        << fmt("%.3f", r.start_ms) << ',' << fmt("%.3f", r.end_ms) << ',' << to_string(r.status) << ','
        << (r.status == request_status::met ? 1 : 0) << ',' << r.node << ',' << fmt("%.3f", r.load_ms) << '\n';
  return out ? caf::error{} : make_error(ec::io_error, "write failed: " + path);
}

caf::error write_nodes_csv(const cluster_run& run, uint32_t nodes, double bucket_ms, const std::string& path) {
  const auto& w = run.world;
  double end = 0.0;
  for (const auto& r : w.records)
    end = std::max({end, r.arrival_ms, r.end_ms});
  auto buckets = static_cast<size_t>(std::floor(end / bucket_ms)) + 1;
  std::vector<double> busy(buckets * nodes, 0.0);
  std::vector<uint64_t> started(buckets * nodes, 0);
  std::vector<uint64_t> resident(buckets * nodes, 0);
  std::vector<uint32_t> slots_per_node(nodes, 0);
  for (const auto& sl : w.slots) {
    ++slots_per_node[sl.node];
    uint64_t held = 0;
    size_t span = 0;
    for (size_t b = 0; b < buckets; ++b) {
      double lo = static_cast<double>(b) * bucket_ms, hi = lo + bucket_ms;
      // Spans are in start order and do not overlap on one slot.
      for (size_t k = span; k < sl.spans.size() && sl.spans[k].start_ms < hi; ++k) {
        const auto& sp = sl.spans[k];
        busy[b * nodes + sl.node] += std::max(0.0, std::min(hi, sp.end_ms) - std::max(lo, sp.start_ms));
        if (sp.start_ms >= lo)
          ++started[b * nodes + sl.node];
        held = sp.resident_bytes;
        if (sp.end_ms <= hi)
          span = k + 1;
      }
      resident[b * nodes + sl.node] += held;
    }
  }
  // Queue length at each bucket's end: arrived, not yet started (last start).
  std::vector<int64_t> delta(buckets + 1, 0);
  for (const auto& r : w.records) {
    auto a = static_cast<size_t>(r.arrival_ms / bucket_ms);
    delta[std::min(a, buckets)] += 1;
    double leave = r.start_ms >= 0.0 ? r.start_ms : r.arrival_ms;
    delta[std::min(static_cast<size_t>(leave / bucket_ms), buckets)] -= 1;
  }
  std::ofstream out;
  if (auto err = open_for_write(out, path))
    return err;
  out << "bucket_ms,node,busy_fraction,jobs_started,resident_bytes,queued\n";
  int64_t queued = 0;
  for (size_t b = 0; b < buckets; ++b) {
    queued += delta[b];
    for (uint32_t n = 0; n < nodes; ++n) {
      double cap = bucket_ms * std::max<uint32_t>(1, slots_per_node[n]);
      out << fmt("%.1f", static_cast<double>(b) * bucket_ms) << ',' << n << ','
          << fmt("%.4f", busy[b * nodes + n] / cap) << ',' << started[b * nodes + n] << ','
          << resident[b * nodes + n] << ',' << queued << '\n';
    }
  }
  return out ? caf::error{} : make_error(ec::io_error, "write failed: " + path);
}

caf::error write_summary_csv(const std::vector<run_summary>& rows, const std::string& path) {
  std::ofstream out;
  if (auto err = open_for_write(out, path))
    return err;
  out << "config,policy,level,requests,met,missed,failed,lost,hit_rate,met_per_s,completed_per_s,p50_ms,p99_ms,"
         "mean_ms,peak_resident_bytes,loaded_bytes,switches,evictions,makespan_ms\n";
  for (const auto& r : rows)
    out << r.config << ',' << r.policy << ',' << fmt("%.2f", r.level) << ',' << r.requests << ',' << r.met << ','
        << r.missed << ',' << r.failed << ',' << r.lost << ',' << fmt("%.4f", r.hit_rate) << ','
        << fmt("%.3f", r.met_per_s) << ',' << fmt("%.3f", r.completed_per_s) << ',' << fmt("%.3f", r.p50_ms) << ','
        << fmt("%.3f", r.p99_ms) << ',' << fmt("%.3f", r.mean_ms) << ',' << r.peak_resident_bytes << ','
        << r.loaded_bytes << ',' << r.switches << ',' << r.evictions << ',' << fmt("%.3f", r.makespan_ms) << '\n';
  return out ? caf::error{} : make_error(ec::io_error, "write failed: " + path);
}

std::string summary_table(const std::vector<run_summary>& rows) {
  std::string out;
  char line[320];
  std::snprintf(line, sizeof line, "%-12s %-12s %5s %8s %7s %6s %6s %7s %8s %8s %8s %9s %8s %9s %8s %8s\n", "config",
                "policy", "load", "requests", "met", "missed", "failed", "hit", "met/s", "p50 ms", "p99 ms", "mean ms",
                "peak MB", "loaded MB", "switches", "evicted");
  out += line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line,
                  "%-12s %-12s %5.2f %8llu %7llu %6llu %6llu %6.1f%% %8.2f %8.1f %8.1f %9.1f %8.1f %9.1f %8llu %8llu\n",
                  r.config.c_str(), r.policy.c_str(), r.level, static_cast<unsigned long long>(r.requests),
                  static_cast<unsigned long long>(r.met), static_cast<unsigned long long>(r.missed),
                  static_cast<unsigned long long>(r.failed), 100.0 * r.hit_rate, r.met_per_s, r.p50_ms, r.p99_ms,
                  r.mean_ms, static_cast<double>(r.peak_resident_bytes) / 1.0e6,
                  static_cast<double>(r.loaded_bytes) / 1.0e6, static_cast<unsigned long long>(r.switches),
                  static_cast<unsigned long long>(r.evictions));
    out += line;
  }
  return out;
}

} // namespace tessera::sim
