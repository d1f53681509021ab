#include "streamed_units.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <cmath>

namespace tessera::actors {

streamed_units::streamed_units(std::shared_ptr<torch_backend::streaming_executor> stream,
                               residency::residency_manager& residency)
    : stream_(std::move(stream)), residency_(residency) {
  // nop
}

caf::expected<std::shared_ptr<torch_backend::streamed_model>>
streamed_units::prepare(const std::string& key, const model_manifest& dag) {
  if (auto i = units_.find(key); i != units_.end())
    return i->second;
  if (stream_ == nullptr)
    return make_error(ec::unsupported,
                      "\"" + dag.name +
                          "\" does not fit the device budget, and this node does not stream units "
                          "block by block (its device tier cannot, or its key streaming is false)");
  auto unit = stream_->prepare(dag);
  if (!unit)
    return unit.error();
  units_.emplace(key, *unit);
  return *unit;
}

caf::expected<std::vector<tensor_buffer>>
streamed_units::run(torch_backend::streamed_model& unit, const std::vector<tensor_buffer>& inputs,
                    const std::vector<uint32_t>& wanted, const std::function<bool()>& make_room) {
  for (;;) {
    auto out = attempt(unit, inputs, wanted);
    if (out || code_of(out.error()) != ec::out_of_memory || !make_room()) {
      ++(out ? totals_.runs : totals_.failed_runs);
      return out;
    }
  }
}

caf::expected<std::vector<tensor_buffer>>
streamed_units::attempt(torch_backend::streamed_model& unit,
                        const std::vector<tensor_buffer>& inputs,
                        const std::vector<uint32_t>& wanted) {
  tell_stream_of_device(*stream_, residency_);
  torch_backend::stream_stats st;
  auto out = stream_->run_outputs(unit, inputs, wanted, &st);
  totals_.blocks += st.blocks.size();
  uint32_t window = 0;
  for (const auto& b : st.blocks) {
    totals_.blobs_read += b.blobs_read;
    totals_.compute_ms += b.compute_ms;
    totals_.waited_blocks += b.prefetched ? 0 : 1;
    window = std::max(window, b.ahead);
  }
  if (!st.blocks.empty()) {
    totals_.last_share_bytes = st.blocks.back().budget_bytes;
    totals_.last_window_blocks = window;
  }
  totals_.bytes_read += st.bytes_read;
  totals_.copies += st.copies;
  totals_.bytes_copied += st.bytes_copied;
  totals_.forced_blocks += st.forced_blocks;
  totals_.trimmed_blocks += st.trimmed_blocks;
  totals_.peak_held_bytes = std::max(totals_.peak_held_bytes, st.peak_held_bytes);
  totals_.wait_ms += st.wait_ms;
  return out;
}

bool streamed_units::forget(const std::function<bool(const std::string& key)>& unloaded) {
  bool any = false;
  for (auto i = units_.begin(); i != units_.end();) {
    if (unloaded(i->first)) {
      i = units_.erase(i);
      any = true;
    } else {
      ++i;
    }
  }
  return any;
}

stream_totals streamed_units::totals() const {
  auto out = totals_;
  out.budget_bytes = stream_ != nullptr ? stream_->budget_bytes() : 0;
  return out;
}

std::vector<std::string> streamed_units::prepared() const {
  std::vector<std::string> keys;
  for (const auto& [k, u] : units_)
    keys.push_back(k);
  return keys;
}

uint64_t node_stream_budget_bytes(uint64_t device_budget_bytes, const watermarks& marks) {
  auto high =
      static_cast<uint64_t>(std::ceil(static_cast<double>(device_budget_bytes) * marks.high));
  return high > 0 ? high - 1 : 0;
}

void tell_stream_of_device(torch_backend::streaming_executor& stream,
                           const residency::residency_manager& residency) {
  auto device = residency.stats().device;
  auto leased = device.referenced_bytes + device.reserved_bytes;
  auto others = leased - std::min(leased, stream.leased_bytes());
  auto budget = device.budget_bytes;
  stream.set_room_bytes(budget - std::min(budget, others));
  stream.on_memory_pressure(pressure_of(others, budget, residency.options().marks));
}

caf::expected<std::shared_ptr<torch_backend::streaming_executor>>
start_node_stream(const torch_backend::torch_options& opts, residency::residency_manager& residency,
                  const store::skeleton_store& skeletons) {
  const auto& ropts = residency.options();
  auto made = torch_backend::make_streaming_executor(
      opts, residency, skeletons, node_stream_budget_bytes(ropts.device_budget_bytes, ropts.marks));
  if (!made)
    return made.error();
  std::shared_ptr<torch_backend::streaming_executor> stream = std::move(*made);
  std::weak_ptr<torch_backend::streaming_executor> weak = stream;
  auto* mgr = &residency;
  residency.on_pressure([weak, mgr](pressure_level, uint64_t, uint64_t) {
    if (auto s = weak.lock())
      tell_stream_of_device(*s, *mgr);
  });
  return stream;
}

} // namespace tessera::actors
