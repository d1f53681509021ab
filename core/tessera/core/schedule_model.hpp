// The cost model that every scheduling policy in core/ is judged by: models as
// ordered parameter blocks, queued requests with deadlines, one sequential device
// that loads missing blocks and then executes. Pure data and pure functions, shared
// by the scheduler actor, the simulator and the benchmarks (see docs/scheduling.md).
#pragma once

#include "tessera/core/content_id.hpp"

#include <caf/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

/// One parameter block of a model, as the scheduler sees it: its id (equal ids
/// are shared), its bytes and its measured execution time.
struct schedule_block {
  content_id id;
  uint64_t bytes = 0;
  double exec_ms = 0.0;
};

/// A model: its blocks in execution order (bottom layers first).
struct schedule_model {
  std::string name;
  std::vector<schedule_block> blocks;
};

/// A queued inference request. Times are absolute, in milliseconds.
struct schedule_request {
  uint64_t id = 0;
  size_t model = 0;         ///< index into schedule_instance::models
  double arrival_ms = 0.0;  ///< when its input is on the node (upload complete)
  double deadline_ms = 0.0; ///< met when it completes at or before this time
  int priority = 0;         ///< larger is more important (see schedule_aging.hpp)
  uint64_t input_bytes = 0; ///< what its client uploads (see uplink_allocation.hpp)
};

/// What stays on the device after a request has run.
enum class residency_policy : uint8_t {
  /// Exactly the blocks of the model that ran last (PartialLoading's model, and
  /// the class the optimal dynamic program is stated for).
  last_model,
  /// The blocks of the model that ran last, plus the most recently used other
  /// blocks up to `capacity_bytes` (block-level LRU; shared blocks count once).
  lru_blocks,
  /// Whole models, LRU, up to `capacity_bytes`; blocks are never shared, so a
  /// model is loaded in full unless that very model is resident (the baseline).
  lru_models,
};

const char* to_string(residency_policy p);

/// The device a schedule runs on.
struct schedule_device {
  double load_bytes_per_ms = 1.0e6; ///< measured host-to-device load bandwidth
  uint64_t capacity_bytes = 0;      ///< residency budget (lru_* policies only)
  residency_policy residency = residency_policy::last_model;
};

/// A scheduling problem: the models, the queue, the device, and the device's
/// state when the schedule starts.
struct schedule_instance {
  std::vector<schedule_model> models;
  std::vector<schedule_request> requests;
  schedule_device device;
  double start_ms = 0.0;   ///< when the device becomes free
  int resident_model = -1; ///< the model that ran last, or -1 for a cold device
};

/// Checks indices, bandwidth and times; names the bad field.
caf::error validate(const schedule_instance& inst);

/// Sum of a model's bytes and of its per-block execution times.
uint64_t model_bytes(const schedule_model& m);
double model_exec_ms(const schedule_model& m);

/// What is resident between two requests. Blocks are kept most recent first;
/// `models` is used by lru_models only.
struct residency_state {
  std::vector<content_id> blocks;
  std::vector<size_t> models;
};

/// The residency at the start of `inst` (its resident model, or nothing).
residency_state initial_residency(const schedule_instance& inst);

/// Bytes of `model` that are not resident in `state`.
uint64_t missing_bytes(const schedule_instance& inst, const residency_state& state, size_t model);

/// Time to load what `model` lacks in `state` at the device's bandwidth.
double load_ms(const schedule_instance& inst, const residency_state& state, size_t model);

/// Updates `state` after `model` has run, following the device's policy.
void note_served(const schedule_instance& inst, residency_state& state, size_t model);

/// One request's fate in a simulated schedule.
struct request_outcome {
  size_t request = 0; ///< index into schedule_instance::requests
  double start_ms = 0.0;
  double load_ms = 0.0;
  double completion_ms = 0.0;
  bool met = false;
};

/// A schedule: the requests served, in order, with their simulated outcomes.
/// Requests not listed are dropped (answered early with a deadline error).
struct schedule_plan {
  std::vector<size_t> order;             ///< indices into schedule_instance::requests
  std::vector<request_outcome> outcomes; ///< one per entry of `order`
  size_t met = 0;                        ///< outcomes that met their deadlines
};

/// Runs `order` on one device: each request starts when both it has arrived and
/// the device is free, loads its missing blocks, then executes. Every listed
/// request runs, late or not.
schedule_plan simulate(const schedule_instance& inst, std::vector<size_t> order);

/// The request ids of a plan, in order (for logs and tests).
std::vector<uint64_t> served_ids(const schedule_instance& inst, const schedule_plan& plan);

} // namespace tessera
