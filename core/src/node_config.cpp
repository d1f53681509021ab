#include "tessera/core/node_config.hpp"

#include "config_text.hpp"
#include "tessera/core/error.hpp"

#include <toml++/toml.h>

#include <cstdlib>
#include <functional>

namespace tessera {

using namespace config_text;

namespace {

struct entry {
  const char* key;
  const char* help;
  std::function<caf::error(node_config&, const std::string&)> set;
  std::function<std::string(const node_config&)> get;
};

// The three watermarks differ only in name and member.
entry watermark_entry(const char* key, const char* help, double watermarks::*member) {
  return {key, help,
          [key, member](node_config& c, const std::string& v) -> caf::error {
            auto x = parse_fraction(key, v);
            if (!x)
              return x.error();
            c.marks.*member = *x;
            return {};
          },
          [member](const node_config& c) { return number_text(c.marks.*member); }};
}

// A whole number of bytes, milliseconds or the like (sizes take KiB/MiB/GiB).
entry u64_entry(const char* key, const char* help, uint64_t node_config::*member) {
  return {key, help,
          [key, member](node_config& c, const std::string& v) -> caf::error {
            auto x = parse_u64(key, v);
            if (!x)
              return x.error();
            c.*member = *x;
            return {};
          },
          [member](const node_config& c) { return std::to_string(c.*member); }};
}

const std::vector<entry>& entries() {
  static const std::vector<entry> table{
      {"store_path", "directory of the block store (blobs, skeletons, manifests)",
       [](node_config& c, const std::string& v) -> caf::error {
         c.store_path = v;
         return {};
       },
       [](const node_config& c) { return c.store_path; }},
      {"device", "device that executors run on: cpu, or cuda:N where the build has CUDA",
       [](node_config& c, const std::string& v) -> caf::error {
         c.device = v;
         return {};
       },
       [](const node_config& c) { return c.device; }},
      u64_entry("device_budget_bytes", "bytes of parameters the device tier may hold (KiB/MiB/GiB)",
                &node_config::device_budget_bytes),
      u64_entry("device_cache_bytes",
                "freed device memory kept for the next loads (the CPU arena's pages, the GPU "
                "allocator's blocks); 0 gives it back at once",
                &node_config::device_cache_bytes),
      u64_entry("map_cache_bytes",
                "blob files kept mapped after a copy-mode read, so later reads copy from the "
                "page cache without system calls; 0 reads with pread every time",
                &node_config::map_cache_bytes),
      u64_entry("readahead_bytes",
                "bytes of a load's next blob files the kernel is asked to read ahead once its "
                "reads come from the disk; 0 asks for nothing ahead",
                &node_config::readahead_bytes),
      u64_entry("host_memory_budget",
                "bytes the node may keep beyond what loaded models hold: blob files kept "
                "mapped, kept device memory and kept blocks (where the device is host "
                "memory), and request buffers, trimmed in that order; 0: no budget",
                &node_config::host_memory_budget),
      u64_entry("scrub_bytes_per_s",
                "bytes of resident blobs the background scrub re-hashes per second (MiB etc.); "
                "0 turns the scrub off",
                &node_config::scrub_bytes_per_s),
      {"load_mode",
       "in_place: view mapped blobs (only where the store's file system can be "
       "watched; elsewhere copy, with a warning); copy: copy into device memory",
       [](node_config& c, const std::string& v) -> caf::error {
         if (v == "in_place")
           c.mode = load_mode::in_place;
         else if (v == "copy")
           c.mode = load_mode::copy;
         else
           return bad_field("load_mode", "\"" + v + "\" is not in_place or copy");
         return {};
       },
       [](const node_config& c) {
         return std::string{c.mode == load_mode::in_place ? "in_place" : "copy"};
       }},
      {"verify_blobs", "re-hash every blob when it is read, so corruption is never silent",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_bool("verify_blobs", v);
         if (!x)
           return x.error();
         c.verify_blobs = *x;
         return {};
       },
       [](const node_config& c) { return std::string{c.verify_blobs ? "true" : "false"}; }},
      {"io_threads", "threads that read blobs from the store into the device tier",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_u64("io_threads", v);
         if (!x)
           return x.error();
         c.io_threads = static_cast<uint32_t>(*x);
         return {};
       },
       [](const node_config& c) { return std::to_string(c.io_threads); }},
      {"eviction_policy", "cost_aware (reload cost x reuse, GDSF) or lru",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_eviction_policy(v);
         if (!x)
           return bad_field("eviction_policy", "\"" + v + "\" is not cost_aware or lru");
         c.eviction = *x;
         return {};
       },
       [](const node_config& c) { return std::string{to_string(c.eviction)}; }},
      {"keep_unloaded_blocks", "keep an unloaded model's blocks cached until memory is needed",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_bool("keep_unloaded_blocks", v);
         if (!x)
           return x.error();
         c.keep_unloaded_blocks = *x;
         return {};
       },
       [](const node_config& c) { return std::string{c.keep_unloaded_blocks ? "true" : "false"}; }},
      watermark_entry("watermark_low", "fraction of the device budget where memory pressure begins",
                      &watermarks::low),
      watermark_entry("watermark_high", "fraction of the device budget where pressure is high",
                      &watermarks::high),
      watermark_entry("watermark_critical",
                      "fraction of the device budget where pressure is critical",
                      &watermarks::critical),
      {"torch_threads", "LibTorch intra-op threads per executor (0: LibTorch's default)",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_u64("torch_threads", v);
         if (!x)
           return x.error();
         c.torch_threads = static_cast<uint32_t>(*x);
         return {};
       },
       [](const node_config& c) { return std::to_string(c.torch_threads); }},
      {"actor_threads",
       "threads for the pooled actors (gateway, scheduler, monitor); 1 keeps every hop on one "
       "thread",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_u64("actor_threads", v);
         if (!x)
           return x.error();
         c.actor_threads = static_cast<uint32_t>(*x);
         return {};
       },
       [](const node_config& c) { return std::to_string(c.actor_threads); }},
      {"listen", "ZeroMQ endpoint of the client gateway (tcp://HOST:PORT; port * picks one)",
       [](node_config& c, const std::string& v) -> caf::error {
         c.listen = v;
         return {};
       },
       [](const node_config& c) { return c.listen; }},
      {"node_name", "name of this node in status replies",
       [](node_config& c, const std::string& v) -> caf::error {
         c.node_name = v;
         return {};
       },
       [](const node_config& c) { return c.node_name; }},
      {"executors", "executors on the device (concurrent batches); auto: measured at start-up",
       [](node_config& c, const std::string& v) -> caf::error {
         c.executors_auto = v == "auto";
         if (c.executors_auto) {
           c.executors = 1; // until the start-up measurement picks the count
           return {};
         }
         auto x = parse_u64("executors", v);
         if (!x)
           return x.error();
         c.executors = static_cast<uint32_t>(*x);
         return {};
       },
       [](const node_config& c) {
         return c.executors_auto ? std::string{"auto"} : std::to_string(c.executors);
       }},
      {"peers", "comma-separated gateways of worker nodes this node schedules onto",
       [](node_config& c, const std::string& v) -> caf::error {
         c.peers = split_list(v);
         return {};
       },
       [](const node_config& c) { return join_list(c.peers); }},
      {"fetch_peers",
       "comma-separated gateways whose loaders this node fetches missing model parts from "
       "(empty: the peers)",
       [](node_config& c, const std::string& v) -> caf::error {
         c.fetch_peers = split_list(v);
         return {};
       },
       [](const node_config& c) { return join_list(c.fetch_peers); }},
      u64_entry("fetch_timeout_ms",
                "how long one peer may take to answer one fetch before the next is tried",
                &node_config::fetch_timeout_ms),
      {"queue_order", "scheduler order: reuse_aware, edf or fifo",
       [](node_config& c, const std::string& v) -> caf::error {
         if (v != "reuse_aware" && v != "edf" && v != "fifo")
           return bad_field("queue_order", "\"" + v + "\" is not reuse_aware, edf or fifo");
         c.queue_order = v;
         return {};
       },
       [](const node_config& c) { return c.queue_order; }},
      {"placement",
       "how jobs reach executors: scored (units placed by memory, resident blobs, queue) or "
       "any_idle",
       [](node_config& c, const std::string& v) -> caf::error {
         if (v != "scored" && v != "any_idle")
           return bad_field("placement", "\"" + v + "\" is not scored or any_idle");
         c.placement = v;
         return {};
       },
       [](const node_config& c) { return c.placement; }},
      {"serving",
       "blocks (shared blocks, reuse order, fusion, streaming) or whole_model (the baseline: "
       "whole TorchScript files, LRU of whole models, FIFO; docs/whole-model-serving.md)",
       [](node_config& c, const std::string& v) -> caf::error {
         if (v != "blocks" && v != "whole_model")
           return bad_field("serving", "\"" + v + "\" is not blocks or whole_model");
         c.serving = v;
         return {};
       },
       [](const node_config& c) { return c.serving; }},
      {"max_groups",
       "the most fused groups the store may define; a fuse of a new name beyond it is refused",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_u64("max_groups", v);
         if (!x)
           return x.error();
         if (*x > 100000)
           return bad_field("max_groups", "must be at most 100000");
         c.max_groups = static_cast<uint32_t>(*x);
         return {};
       },
       [](const node_config& c) { return std::to_string(c.max_groups); }},
      {"fusion", "serve the store's fused groups; false runs every model on its own",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_bool("fusion", v);
         if (!x)
           return x.error();
         c.fusion = *x;
         return {};
       },
       [](const node_config& c) { return std::string{c.fusion ? "true" : "false"}; }},
      {"streaming", "run units larger than the device budget block by block; false refuses them",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_bool("streaming", v);
         if (!x)
           return x.error();
         c.streaming = *x;
         return {};
       },
       [](const node_config& c) { return std::string{c.streaming ? "true" : "false"}; }},
      {"whole_model_dir", "whole-model serving's files, NAME-vVERSION.pt; empty: STORE/whole",
       [](node_config& c, const std::string& v) -> caf::error {
         c.whole_model_dir = v;
         return {};
       },
       [](const node_config& c) { return c.whole_model_dir; }},
      {"max_batch_rows", "rows one dynamic batch may hold (1: no batching)",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_u64("max_batch_rows", v);
         if (!x)
           return x.error();
         if (*x < 1 || *x > 4096)
           return bad_field("max_batch_rows", "must be between 1 and 4096");
         c.max_batch_rows = static_cast<uint32_t>(*x);
         return {};
       },
       [](const node_config& c) { return std::to_string(c.max_batch_rows); }},
      u64_entry("max_queue_delay_us", "microseconds a request may wait for its batch to fill",
                &node_config::max_queue_delay_us),
      {"auto_fuse",
       "define fused groups the grouping policy proposes from co-requests (docs/fusion.md)",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_bool("auto_fuse", v);
         if (!x)
           return x.error();
         c.auto_fuse = *x;
         return {};
       },
       [](const node_config& c) { return std::string{c.auto_fuse ? "true" : "false"}; }},
      {"uplink_capacity_mbps",
       "capacity of the clients' shared uplink in Mbit/s; with it the gateway gives each "
       "client a share in every reply (0: off; docs/scheduling.md)",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_non_negative("uplink_capacity_mbps", v);
         if (!x)
           return x.error();
         c.uplink_capacity_mbps = *x;
         return {};
       },
       [](const node_config& c) { return number_text(c.uplink_capacity_mbps); }},
      u64_entry("max_message_bytes", "largest request the gateway accepts (KiB/MiB/GiB)",
                &node_config::max_message_bytes),
      u64_entry("max_in_flight_requests",
                "requests the gateway holds in flight at most; more are answered overloaded",
                &node_config::max_in_flight_requests),
      {"shed_late",
       "answer requests that can no longer meet their deadlines at once (overloaded at "
       "arrival, deadline_exceeded when an executor would start them) instead of running them",
       [](node_config& c, const std::string& v) -> caf::error {
         auto x = parse_bool("shed_late", v);
         if (!x)
           return x.error();
         c.shed_late = *x;
         return {};
       },
       [](const node_config& c) { return std::string{c.shed_late ? "true" : "false"}; }},
      u64_entry("reply_backlog_bytes",
                "bytes of replies one slow client may have waiting for it (KiB/MiB/GiB); a "
                "reply beyond is dropped and counted",
                &node_config::reply_backlog_bytes),
      u64_entry("reply_stall_timeout_ms",
                "milliseconds a client's reply backlog may stay unread before its replies "
                "are dropped and counted",
                &node_config::reply_stall_timeout_ms),
      u64_entry("handshake_timeout_ms",
                "milliseconds a new connection has to finish ZeroMQ's handshake (CURVE's "
                "included) before it is dropped; 0 waits forever",
                &node_config::handshake_timeout_ms),
      u64_entry("max_in_flight_bytes",
                "bytes of request inputs the gateway holds in flight at most (KiB/MiB/GiB); "
                "more are answered overloaded",
                &node_config::max_in_flight_bytes),
      {"metrics_listen",
       "HOST:PORT of the HTTP /metrics, /healthz and /readyz endpoint (empty: off)",
       [](node_config& c, const std::string& v) -> caf::error {
         c.metrics_listen = v;
         return {};
       },
       [](const node_config& c) { return c.metrics_listen; }},
      {"curve_secret_key_file",
       "this node's CURVE secret key file; set, clients and peers must use CURVE",
       [](node_config& c, const std::string& v) -> caf::error {
         c.curve_secret_key_file = v;
         return {};
       },
       [](const node_config& c) { return c.curve_secret_key_file; }},
      {"curve_allow",
       "comma-separated client public keys (Z85, or .pub files) admitted under CURVE; * admits any",
       [](node_config& c, const std::string& v) -> caf::error {
         c.curve_allow = split_list(v);
         return {};
       },
       [](const node_config& c) { return join_list(c.curve_allow); }},
      {"curve_peer_keys",
       "comma-separated public keys (Z85 or files) of the peers, in the order of peers",
       [](node_config& c, const std::string& v) -> caf::error {
         c.curve_peer_keys = split_list(v);
         return {};
       },
       [](const node_config& c) { return join_list(c.curve_peer_keys); }},
      {"log_format", "text, or json for one JSON object per line",
       [](node_config& c, const std::string& v) -> caf::error {
         if (v != "text" && v != "json")
           return bad_field("log_format", "\"" + v + "\" is not text or json");
         c.log_format = v;
         return {};
       },
       [](const node_config& c) { return c.log_format; }},
      {"log_file", "file the node logs to (empty: standard error)",
       [](node_config& c, const std::string& v) -> caf::error {
         c.log_file = v;
         return {};
       },
       [](const node_config& c) { return c.log_file; }},
      {"log_level", "trace, debug, info, warn or error",
       [](node_config& c, const std::string& v) -> caf::error {
         c.log_level = v;
         return {};
       },
       [](const node_config& c) { return c.log_level; }},
  };
  return table;
}

std::string env_name(const std::string& key) {
  std::string out = "TESSERA_";
  for (char c : key)
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

std::vector<config_entry_info> describe_config() {
  node_config defaults;
  std::vector<config_entry_info> out;
  for (const auto& e : entries())
    out.push_back({e.key, env_name(e.key), e.get(defaults), e.help});
  return out;
}

caf::error set_config_value(node_config& cfg, const std::string& key,
                            const std::string& value) {
  for (const auto& e : entries())
    if (key == e.key)
      return e.set(cfg, value);
  return bad_field(key, "unknown configuration key");
}

std::string get_config_value(const node_config& cfg, const std::string& key) {
  for (const auto& e : entries())
    if (key == e.key)
      return e.get(cfg);
  return {};
}

caf::error apply_config_file(node_config& cfg, const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return make_error(ec::bad_config, path + ": " + std::string{e.description()});
  }
  // Entries may sit at the top level or under [node].
  const toml::table* node = doc["node"].as_table();
  const toml::table& source = node != nullptr ? *node : doc;
  for (const auto& [key, value] : source) {
    std::string k{key.str()};
    std::string text;
    if (auto s = value.value<std::string>())
      text = *s;
    else if (auto i = value.value<int64_t>())
      text = std::to_string(*i);
    else if (auto d = value.as_floating_point())
      text = std::to_string(d->get());
    else if (auto b = value.value<bool>())
      text = *b ? "true" : "false";
    else if (auto* arr = value.as_array()) {
      for (const auto& item : *arr) {
        auto str = item.value<std::string>();
        if (!str)
          return make_error(ec::bad_config, path + ": " + k + ": arrays must hold strings");
        text += (text.empty() ? "" : ",") + *str;
      }
    } else if (value.is_table())
      continue; // other sections belong to other components
    else
      return make_error(ec::bad_config, path + ": " + k + ": unsupported value type");
    if (auto err = set_config_value(cfg, k, text))
      return wrap(err, path);
  }
  return {};
}

caf::error apply_config_env(node_config& cfg) {
  for (const auto& e : entries())
    if (const char* v = std::getenv(env_name(e.key).c_str()))
      if (auto err = e.set(cfg, v))
        return wrap(err, "environment " + env_name(e.key));
  return {};
}

} // namespace tessera
