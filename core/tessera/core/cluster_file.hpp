// The cluster file (deploy/cluster.example.toml): the boxes of a cluster, their
// roles, ports, devices and store paths, and how to reach them. Parsed and
// validated here as pure functions, with errors that name the bad field
// ("boxes[2].port: ..."); deploy/tessera-cluster and `tessera cluster` use it.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tessera {

/// Cluster-wide settings (the [cluster] table).
struct cluster_settings {
  std::string name = "tessera";
  /// How tessera-cluster reaches boxes: "ssh", or "netns" (ip netns exec, for
  /// tests on one machine).
  std::string transport = "ssh";
  /// How nodes run on a box: "systemd" (the unit in deploy/systemd) or "nohup".
  std::string service = "systemd";
  /// On every box: bin/, etc/, keys/, log/ and run/ live here.
  std::string install_dir = "/opt/tessera";
  /// On the operator's machine, relative to the cluster file: the binary `up`
  /// copies, the store it syncs, and where key pairs are kept.
  std::string binary = "build/tessera";
  std::string store = "tessera-store";
  std::string keys_dir = "keys";
  /// `up` runs deploy/setup.sh on each box to install the runtime packages.
  bool install_deps = true;
  /// CURVE on every gateway and between nodes.
  bool curve = false;
  /// Client public keys (Z85, or key files relative to the cluster file) that
  /// every gateway admits.
  std::vector<std::string> client_keys;
};

/// One box (an entry of [[boxes]]).
struct cluster_box {
  std::string name;
  std::string host;
  std::string ssh_user = "root";
  uint16_t ssh_port = 22;
  /// The network namespace that stands for the box (netns transport only).
  std::string netns;
  /// "coordinator" (clients call it; it schedules onto the workers) and/or
  /// "worker" (it runs executors).
  std::vector<std::string> roles;
  uint16_t port = 5555;
  /// The HTTP /metrics port; 0: off.
  uint16_t metrics_port = 9464;
  std::string device = "cpu";
  uint64_t device_budget_bytes = 2ull << 30;
  uint32_t executors = 1;
  std::string store_path = "/var/lib/tessera/store";

  bool has_role(const std::string& role) const;
};

struct cluster_spec {
  cluster_settings settings;
  std::vector<cluster_box> boxes;
};

/// Parses and validates a cluster file's text; `source` names it in errors.
caf::expected<cluster_spec> parse_cluster_file(const std::string& text, const std::string& source);

/// Reads and parses the file at `path`.
caf::expected<cluster_spec> load_cluster_file(const std::string& path);

/// The workers a coordinator schedules onto: every worker box but itself.
std::vector<const cluster_box*> peers_of(const cluster_spec& spec, const cluster_box& box);

/// The gateway endpoint of a box, as other boxes and clients reach it.
std::string endpoint_of(const cluster_box& box);

/// Public keys (Z85) for a CURVE cluster: each box's, by name, and the clients'.
struct cluster_keys {
  std::map<std::string, std::string> box_public;
  std::vector<std::string> clients;
};

/// The node configuration (TOML, for `tessera --config`) of one box. With CURVE
/// its secret key is read from `<install_dir>/keys/node.key`, and it admits
/// every box's key and the clients' keys.
std::string node_config_toml(const cluster_spec& spec, const cluster_box& box,
                             const cluster_keys& keys);

} // namespace tessera
