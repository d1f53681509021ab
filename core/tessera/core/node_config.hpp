// The node's typed configuration. Every entry is declared once in node_config.cpp
// with its default and meaning; values come from the defaults, then a TOML file,
// then TESSERA_* environment variables, then command-line flags, and the result
// is validated once with errors that name the bad field.
#pragma once

#include "tessera/core/eviction.hpp"
#include "tessera/core/memory_pressure.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

/// How blobs reach the device tier.
enum class load_mode : uint8_t {
  in_place, ///< tensors view the memory-mapped blob (CPU, unified memory)
  copy,     ///< blobs are read and copied into device memory (discrete GPU)
};

struct node_config {
  std::string store_path = "tessera-store";
  std::string device = "cpu";
  uint64_t device_budget_bytes = 2ull << 30;
  /// Freed device memory kept for the next loads instead of given back: the
  /// CPU arena keeps the pages (no faults, no zeroing on the next fill), the
  /// GPU's caching allocator the blocks. Critical memory pressure and
  /// `trim` give it back (decision 33).
  uint64_t device_cache_bytes = 256ull << 20;
  /// Blob files kept mapped after a copy-mode read, least recently used out
  /// first: later reads copy from the page cache in user space (decision 34).
  uint64_t map_cache_bytes = 512ull << 20;
  /// Once a load's reads come from the disk, the kernel is asked to read this
  /// many bytes of the load's next blob files ahead of the I/O threads, so
  /// the disk never waits on a copy or a hash (decision 41). 0: no advice.
  uint64_t readahead_bytes = 16ull << 20;
  /// What the node may keep beyond what its loaded models hold: blob files
  /// kept mapped, kept device memory and kept blocks (where the device's
  /// memory is host memory) and request buffers, together. Over it, they are
  /// trimmed in that order (decision 46). 0: no budget; each part keeps its
  /// own bound only.
  uint64_t host_memory_budget = 0;
  /// Bytes of resident blobs the background scrub re-hashes per second, so
  /// that rot no file event reports is found (decision 43); 0: no scrub.
  uint64_t scrub_bytes_per_s = 50ull << 20;
  load_mode mode = load_mode::in_place;
  bool verify_blobs = true;
  uint32_t io_threads = 2;
  eviction_policy eviction = eviction_policy::cost_aware;
  bool keep_unloaded_blocks = true;
  watermarks marks;
  uint32_t torch_threads = 0;
  /// Threads that run the node's pooled actors (gateway, scheduler, monitor).
  /// They only route and queue; work that blocks runs on its own threads.
  uint32_t actor_threads = 1;
  std::string log_level = "info";
  /// Log lines as text or as JSON objects (one per line).
  std::string log_format = "text";
  /// Where the log goes; empty: standard error.
  std::string log_file;
  /// Where the gateway listens for clients.
  std::string listen = "tcp://127.0.0.1:5555";
  /// How this node names itself in status replies and logs.
  std::string node_name = "tessera";
  /// Executors per device; each runs one batch at a time. A coordinator with
  /// peers may have none.
  uint32_t executors = 1;
  /// `executors = "auto"`: at start-up the node measures its throughput with
  /// 1 to min(cores, 4) executors on its models and runs the count that
  /// choose_executor_count() picks (core/executor_count.hpp).
  bool executors_auto = false;
  /// Gateways of the worker nodes this node schedules onto (its seed list).
  std::vector<std::string> peers;
  /// Gateways of the nodes whose loaders this node fetches missing model
  /// parts (manifests, skeletons, blobs) from; empty: the `peers`.
  std::vector<std::string> fetch_peers;
  /// How long one peer may take to answer one fetch before the next is tried.
  uint64_t fetch_timeout_ms = 10000;
  /// Queue order of the scheduler: reuse_aware, edf or fifo.
  std::string queue_order = "reuse_aware";
  /// How jobs reach executors: "scored" places units by free memory, resident
  /// blobs and queue length (docs/scheduling.md, "Placement"); "any_idle"
  /// lets any idle executor take any job.
  std::string placement = "scored";
  /// "blocks" (Tessera) or "whole_model": the baseline Tessera is measured
  /// against, which loads each model as one TorchScript file, evicts whole
  /// models LRU and queues FIFO, with no sharing, fusion or streaming
  /// (docs/whole-model-serving.md).
  std::string serving = "blocks";
  /// The most fused groups the store may define: a `fuse` of a new name
  /// beyond it is refused (out_of_memory), so a client cannot fill the store.
  uint32_t max_groups = 64;
  /// Serve the store's fused groups (false: every model runs on its own,
  /// whatever groups the store defines, and auto_fuse is off).
  bool fusion = true;
  /// Run units larger than the device budget block by block (false: such a
  /// unit is refused with `out_of_memory`, as a device tier that cannot stream
  /// refuses it; docs/swapping.md).
  bool streaming = true;
  /// Whole-model serving's files (NAME-vVERSION.pt); empty: STORE/whole.
  std::string whole_model_dir;
  /// Rows one dynamic batch may hold (1, the default: no batching). Batched
  /// results can differ from single runs in the last bits (other GEMM blocking).
  uint32_t max_batch_rows = 1;
  /// How long a request may wait for others to join its batch, in microseconds.
  uint64_t max_queue_delay_us = 0;
  /// Define the fused groups that the grouping policy proposes from the
  /// scheduler's co-request statistics (docs/fusion.md, "Automatic groups").
  /// Off by default: a group changes what executors load and swap.
  bool auto_fuse = false;
  /// Capacity of the uplink that the gateway's clients share, in Mbit/s
  /// (10^6 bits). Above 0 the gateway splits it among its active clients with
  /// the joint allocation (core/uplink_allocation.hpp) and puts each client's
  /// share in every reply to it; 0, the default, sends no shares.
  double uplink_capacity_mbps = 0.0;
  /// Largest request or reply the gateway accepts, in bytes.
  uint64_t max_message_bytes = 256ull << 20;
  /// Requests the gateway holds in flight at most, by count and by the bytes
  /// of their inputs; beyond either, requests are answered `overloaded` at once.
  uint64_t max_in_flight_requests = 1024;
  /// Deadline-aware admission and shedding (decision 44): requests that can
  /// no longer meet their deadlines are answered at once rather than run.
  bool shed_late = true;
  uint64_t max_in_flight_bytes = 512ull << 20;
  /// Replies a slow client cannot take yet wait in its own backlog, up to
  /// this many bytes; a client whose backlog does not move for the stall
  /// timeout is taken for gone and its replies are dropped (decision 45).
  uint64_t reply_backlog_bytes = 64ull << 20;
  uint64_t reply_stall_timeout_ms = 30000;
  /// Milliseconds a new connection has to finish ZeroMQ's handshake (CURVE's
  /// included) before the gateway drops it; 0 waits forever (ZeroMQ's own
  /// default is 30 s, long enough for idle connects to exhaust descriptors).
  uint64_t handshake_timeout_ms = 5000;
  /// HOST:PORT where /metrics, /healthz and /readyz are served over HTTP
  /// (port 0 picks one); empty turns the endpoint off.
  std::string metrics_listen;
  /// This node's CURVE secret key file (`tessera keys gen`); empty: no CURVE.
  std::string curve_secret_key_file;
  /// Client public keys (Z85) the gateway admits when CURVE is on; "*" admits
  /// any. The node's own public key is always admitted.
  std::vector<std::string> curve_allow;
  /// The peers' public keys (Z85 or key files), in the order of `peers`.
  std::vector<std::string> curve_peer_keys;
};

/// One declared entry, for --help texts and `tessera config`.
struct config_entry_info {
  std::string key;
  std::string env;
  std::string default_value;
  std::string help;
};

/// All entries, in declaration order.
std::vector<config_entry_info> describe_config();

/// Applies a TOML file to `cfg`. Unknown keys are errors, so typos are caught.
caf::error apply_config_file(node_config& cfg, const std::string& path);

/// Applies every TESSERA_<KEY> variable that is set.
caf::error apply_config_env(node_config& cfg);

/// Sets one entry from text, as a flag or variable would.
caf::error set_config_value(node_config& cfg, const std::string& key,
                            const std::string& value);

/// Renders one entry's current value as text.
std::string get_config_value(const node_config& cfg, const std::string& key);

/// Checks cross-field rules once, at start-up.
caf::error validate_config(const node_config& cfg);

} // namespace tessera
