#include "node_status_view.hpp"

#include "cli_context.hpp"

#include <nlohmann/json.hpp>

#include <cinttypes>
#include <cstdio>
#include <string>

namespace tessera::cli {

namespace {

using transport::executor_entry;
using transport::stream_entry;

/// Bytes in the largest unit that keeps a digit before the point.
std::string short_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  size_t u = 0;
  while (bytes >= 1000.0 && u + 1 < std::size(units)) {
    bytes /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

std::string count(uint64_t n) {
  return std::to_string(n);
}

std::string fixed(double x, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

std::string ms(uint64_t us) {
  return fixed(static_cast<double>(us) / 1000.0, 1) + " ms";
}

/// A total over the blocks run; 0 before any block ran.
double per_block(uint64_t total, const stream_entry& s) {
  return s.blocks == 0 ? 0.0 : static_cast<double>(total) / static_cast<double>(s.blocks);
}

/// One row of the stream table: its label and how it reads one executor's figures.
struct stream_row {
  const char* label;
  std::string (*cell)(const stream_entry& s);
};

const stream_row stream_rows[] = {
    {"runs (failed)",
     [](const stream_entry& s) { return count(s.runs) + " (" + count(s.failed_runs) + ")"; }},
    {"blocks run", [](const stream_entry& s) { return count(s.blocks); }},
    {"blobs read", [](const stream_entry& s) { return count(s.blobs_read); }},
    {"  per block", [](const stream_entry& s) { return fixed(per_block(s.blobs_read, s), 2); }},
    {"bytes read",
     [](const stream_entry& s) { return short_bytes(static_cast<double>(s.bytes_read)); }},
    {"  per block", [](const stream_entry& s) { return short_bytes(per_block(s.bytes_read, s)); }},
    {"copies", [](const stream_entry& s) { return count(s.copies); }},
    {"  per block", [](const stream_entry& s) { return fixed(per_block(s.copies, s), 2); }},
    {"bytes copied",
     [](const stream_entry& s) { return short_bytes(static_cast<double>(s.bytes_copied)); }},
    {"  per block",
     [](const stream_entry& s) { return short_bytes(per_block(s.bytes_copied, s)); }},
    {"blocks waited for", [](const stream_entry& s) { return count(s.waited_blocks); }},
    {"waited", [](const stream_entry& s) { return ms(s.wait_us); }},
    {"computed", [](const stream_entry& s) { return ms(s.compute_us); }},
    {"forced / trimmed",
     [](const stream_entry& s) {
       return count(s.forced_blocks) + " / " + count(s.trimmed_blocks);
     }},
    {"peak held",
     [](const stream_entry& s) { return short_bytes(static_cast<double>(s.peak_held_bytes)); }},
    {"streams' budget",
     [](const stream_entry& s) { return short_bytes(static_cast<double>(s.budget_bytes)); }},
    {"last run's share",
     [](const stream_entry& s) { return short_bytes(static_cast<double>(s.last_share_bytes)); }},
    {"last run's window",
     [](const stream_entry& s) {
       return count(s.last_window_blocks) + (s.last_window_blocks == 1 ? " block" : " blocks");
     }},
};

nlohmann::json stream_json(const stream_entry& s) {
  return {{"runs", s.runs},
          {"failed_runs", s.failed_runs},
          {"blocks", s.blocks},
          {"blobs_read", s.blobs_read},
          {"bytes_read", s.bytes_read},
          {"copies", s.copies},
          {"bytes_copied", s.bytes_copied},
          {"waited_blocks", s.waited_blocks},
          {"wait_us", s.wait_us},
          {"compute_us", s.compute_us},
          {"forced_blocks", s.forced_blocks},
          {"trimmed_blocks", s.trimmed_blocks},
          {"peak_held_bytes", s.peak_held_bytes},
          {"budget_bytes", s.budget_bytes},
          {"last_share_bytes", s.last_share_bytes},
          {"last_window_blocks", s.last_window_blocks},
          {"per_block",
           {{"blobs_read", per_block(s.blobs_read, s)},
            {"bytes_read", per_block(s.bytes_read, s)},
            {"copies", per_block(s.copies, s)},
            {"bytes_copied", per_block(s.bytes_copied, s)}}}};
}

} // namespace

void print_stream_table(const std::vector<executor_entry>& executors) {
  std::vector<const executor_entry*> streamed;
  for (const auto& e : executors)
    if (e.stream)
      streamed.push_back(&e);
  if (streamed.empty())
    return;
  std::printf("streamed runs (units too large to hold, run block by block):\n");
  std::printf("  %-20s", "");
  for (const auto* e : streamed)
    std::printf(" %18s", e->name.c_str());
  std::printf("\n");
  for (const auto& row : stream_rows) {
    std::printf("  %-20s", row.label);
    for (const auto* e : streamed)
      std::printf(" %18s", row.cell(*e->stream).c_str());
    std::printf("\n");
  }
}

void print_node_status(const transport::server_status_response& r) {
  std::printf("node %s, up %" PRIu64 " ms, %" PRIu64 " in flight, %" PRIu64 " queued, %" PRIu64
              " answered\n",
              r.node_name.c_str(), r.uptime_ms, r.requests_in_flight, r.requests_queued,
              r.requests_served);
  for (const auto& node : r.nodes)
    std::printf("  node %s: %s\n", node.name.c_str(), node.state.c_str());
  for (const auto& d : r.devices)
    std::printf("  %s: %s of %s\n", d.name.c_str(), format_mib(d.used_bytes).c_str(),
                format_mib(d.budget_bytes).c_str());
  if (const auto& h = r.host_memory) {
    std::printf("  kept beyond loaded models: %s of %s (mapped files %s, kept device memory %s, "
                "kept blocks %s, request buffers %s; %s trimmed)\n",
                format_mib(h->total_bytes).c_str(),
                h->budget_bytes > 0 ? format_mib(h->budget_bytes).c_str() : "no budget",
                format_mib(h->mapped_files_bytes).c_str(), format_mib(h->kept_device_bytes).c_str(),
                format_mib(h->kept_blocks_bytes).c_str(),
                format_mib(h->request_buffers_bytes).c_str(), format_mib(h->trimmed_bytes).c_str());
  }
  for (const auto& e : r.executors) {
    std::printf("  executor %s: %" PRIu64 " served, resident:", e.name.c_str(), e.served);
    for (const auto& m : e.models)
      std::printf(" %s", m.c_str());
    std::printf("%s", e.models.empty() ? " none" : "");
    if (!e.streamed.empty()) {
      std::printf(", streamed:");
      for (const auto& m : e.streamed)
        std::printf(" %s", m.c_str());
    }
    std::printf("\n");
  }
  print_stream_table(r.executors);
}

nlohmann::json node_status_json(const transport::server_status_response& r) {
  nlohmann::json out = {{"node_name", r.node_name},
                        {"uptime_ms", r.uptime_ms},
                        {"requests_in_flight", r.requests_in_flight},
                        {"requests_served", r.requests_served},
                        {"requests_queued", r.requests_queued}};
  out["nodes"] = nlohmann::json::array();
  for (const auto& n : r.nodes)
    out["nodes"].push_back({{"name", n.name}, {"state", n.state}});
  out["devices"] = nlohmann::json::array();
  for (const auto& d : r.devices)
    out["devices"].push_back(
        {{"name", d.name}, {"used_bytes", d.used_bytes}, {"budget_bytes", d.budget_bytes}});
  if (const auto& h = r.host_memory)
    out["host_memory"] = {{"budget_bytes", h->budget_bytes},
                          {"total_bytes", h->total_bytes},
                          {"mapped_files_bytes", h->mapped_files_bytes},
                          {"kept_device_bytes", h->kept_device_bytes},
                          {"kept_blocks_bytes", h->kept_blocks_bytes},
                          {"request_buffers_bytes", h->request_buffers_bytes},
                          {"trimmed_bytes", h->trimmed_bytes}};
  out["executors"] = nlohmann::json::array();
  for (const auto& e : r.executors) {
    nlohmann::json one = {{"name", e.name}, {"models", e.models}, {"served", e.served}};
    if (!e.streamed.empty())
      one["streamed"] = e.streamed;
    if (e.stream)
      one["stream"] = stream_json(*e.stream);
    out["executors"].push_back(one);
  }
  return out;
}

} // namespace tessera::cli
