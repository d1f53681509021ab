// The models and fused groups an executor runs block by block because they do
// not fit its device resident (docs/swapping.md, "Serving"). Each is prepared
// once (manifest validated, skeletons compiled, no blob read) and run through
// the node's streaming executor, whose budget every executor's streams share.
// Owned by one executor actor; the streaming executor is thread-safe.
#pragma once

#include "tessera/actors/messages.hpp"
#include "tessera/torch/streaming.hpp"

#include <caf/expected.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tessera::actors {

class streamed_units {
public:
  /// `stream` may be null: the node's device tier cannot stream, and every
  /// request to prepare a unit is refused with `unsupported`. `residency` is
  /// the manager the stream leases from.
  streamed_units(std::shared_ptr<torch_backend::streaming_executor> stream,
                 residency::residency_manager& residency);

  bool available() const {
    return stream_ != nullptr;
  }

  /// The unit `key` ("name:version" or "group:NAME"), prepared from `dag` on
  /// first use. Refuses a DAG whose largest block does not fit the streaming
  /// budget (ec::out_of_memory naming the block and its bytes).
  caf::expected<std::shared_ptr<torch_backend::streamed_model>> prepare(const std::string& key,
                                                                        const model_manifest& dag);

  /// Runs the outputs `wanted` (indices into the DAG's outputs) and counts
  /// what the run did. The stream hears of the device first
  /// (tell_stream_of_device): the manager reports level changes of all its
  /// bytes, cached ones included, so a change of leased bytes alone would
  /// otherwise wait for the next one. An attempt refused for want of memory
  /// is tried again for as long as `make_room` frees some; the run counts
  /// once, as ok or failed by its last attempt, since that is what its
  /// request is answered with.
  caf::expected<std::vector<tensor_buffer>> run(torch_backend::streamed_model& unit,
                                                const std::vector<tensor_buffer>& inputs,
                                                const std::vector<uint32_t>& wanted,
                                                const std::function<bool()>& make_room);

  /// Forgets the prepared units whose key `unloaded` picks; true when any.
  bool forget(const std::function<bool(const std::string& key)>& unloaded);

  /// Keys of the prepared units.
  std::vector<std::string> prepared() const;

  /// What the runs did since the executor started, with the streams' budget.
  stream_totals totals() const;

private:
  /// One attempt of `run`, its work added to the totals.
  caf::expected<std::vector<tensor_buffer>> attempt(torch_backend::streamed_model& unit,
                                                    const std::vector<tensor_buffer>& inputs,
                                                    const std::vector<uint32_t>& wanted);

  std::shared_ptr<torch_backend::streaming_executor> stream_;
  residency::residency_manager& residency_;
  std::map<std::string, std::shared_ptr<torch_backend::streamed_model>> units_;
  stream_totals totals_;
};

/// The node's streaming executor, shared by its executors: its budget is
/// node_stream_budget_bytes, and it hears the stream pressure level whenever
/// the residency manager's level changes (on the thread that changed usage).
caf::expected<std::shared_ptr<torch_backend::streaming_executor>>
start_node_stream(const torch_backend::torch_options& opts, residency::residency_manager& residency,
                  const store::skeleton_store& skeletons);

/// The budget a node's streams share: the device budget up to just below the
/// high watermark, so that streams alone never signal memory pressure on
/// themselves (decision 29).
uint64_t node_stream_budget_bytes(uint64_t device_budget_bytes, const watermarks& marks);

/// Tells the node's stream what the device's other users (units held
/// resident, loads in flight) leave it, as room (budget less their bytes), and
/// how hard they press, as the pressure level of their bytes alone. Cached
/// blobs are left out (any load evicts them), and so are the streams' own
/// bytes: a stream filling its room is no pressure (decision 29).
void tell_stream_of_device(torch_backend::streaming_executor& stream,
                           const residency::residency_manager& residency);

} // namespace tessera::actors
