#include "tessera/actors/server_status.hpp"

#include <cmath>

namespace tessera::actors {

namespace {

uint64_t whole_us(double ms) {
  return ms > 0.0 ? static_cast<uint64_t>(std::llround(ms * 1000.0)) : 0;
}

} // namespace

transport::stream_entry stream_entry_of(const stream_totals& totals) {
  transport::stream_entry out;
  out.runs = totals.runs;
  out.failed_runs = totals.failed_runs;
  out.blocks = totals.blocks;
  out.blobs_read = totals.blobs_read;
  out.bytes_read = totals.bytes_read;
  out.copies = totals.copies;
  out.bytes_copied = totals.bytes_copied;
  out.waited_blocks = totals.waited_blocks;
  out.wait_us = whole_us(totals.wait_ms);
  out.compute_us = whole_us(totals.compute_ms);
  out.forced_blocks = totals.forced_blocks;
  out.trimmed_blocks = totals.trimmed_blocks;
  out.peak_held_bytes = totals.peak_held_bytes;
  out.budget_bytes = totals.budget_bytes;
  out.last_share_bytes = totals.last_share_bytes;
  out.last_window_blocks = totals.last_window_blocks;
  return out;
}

transport::host_memory_entry host_memory_entry_of(const residency::host_memory_stats& stats) {
  transport::host_memory_entry out;
  out.budget_bytes = stats.budget_bytes;
  out.total_bytes = stats.now.total();
  out.mapped_files_bytes = stats.now.mapped_files;
  out.kept_device_bytes = stats.now.kept_device;
  out.kept_blocks_bytes = stats.now.kept_blocks;
  out.request_buffers_bytes = stats.now.request_buffers;
  out.trimmed_bytes = stats.trimmed.total();
  return out;
}

transport::executor_entry executor_entry_of(const executor_state& state) {
  transport::executor_entry out;
  out.name = state.name;
  out.models = state.loaded;
  out.served = state.served;
  if (state.remote)
    return out;
  out.streamed = state.streamed;
  const auto& s = state.streams;
  if (!state.streamed.empty() || s.runs + s.failed_runs > 0)
    out.stream = stream_entry_of(s);
  return out;
}

} // namespace tessera::actors
