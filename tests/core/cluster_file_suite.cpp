// The cluster file: a good file parses with defaults filled in; each kind of
// bad field is refused with an error that names it; the node configuration
// made for a box reads back as a valid node_config with the right peers.
#include "scratch_dir.hpp"
#include "tessera/core/cluster_file.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/node_config.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace tessera;

namespace {

const std::string good = R"(
[cluster]
name = "lab"
curve = true

[[boxes]]
name = "gw"
host = "10.0.0.1"
roles = ["coordinator"]
executors = 0

[[boxes]]
name = "w1"
host = "10.0.0.2"
roles = ["worker"]
device_budget = "512MiB"

[[boxes]]
name = "w2"
host = "10.0.0.3"
roles = ["worker", "coordinator"]
port = 6000
metrics_port = 0
)";

// The error a variant of the good file gets, as text ("" when it parses).
std::string error_of(const std::string& text) {
  auto spec = parse_cluster_file(text, "c.toml");
  return spec ? std::string{} : describe(spec.error());
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

} // namespace

TEST_SUITE("cluster_file") {
  TEST_CASE("a good file parses, with defaults") {
    auto spec = parse_cluster_file(good, "c.toml");
    REQUIRE_MESSAGE(spec, test::why(spec));
    CHECK(spec->settings.name == "lab");
    CHECK(spec->settings.transport == "ssh");
    CHECK(spec->settings.curve);
    REQUIRE(spec->boxes.size() == 3);
    CHECK(spec->boxes[0].port == 5555);
    CHECK(spec->boxes[0].ssh_user == "root");
    CHECK(spec->boxes[1].device_budget_bytes == 512ull << 20);
    CHECK(spec->boxes[2].metrics_port == 0);
    auto peers = peers_of(*spec, spec->boxes[0]);
    REQUIRE(peers.size() == 2);
    CHECK(peers[0]->name == "w1");
    CHECK(peers_of(*spec, spec->boxes[1]).empty());     // a worker schedules onto nobody
    CHECK(peers_of(*spec, spec->boxes[2]).size() == 1); // not itself
  }

  TEST_CASE("bad fields are refused by name") {
    CHECK(error_of(replaced(good, "port = 6000", "port = 70000")).find("boxes[2].port") !=
          std::string::npos);
    CHECK(error_of(replaced(good, "port = 6000", "port = \"6000\""))
              .find("boxes[2].port: must be an integer") != std::string::npos);
    CHECK(error_of(replaced(good, "\"512MiB\"", "\"lots\"")).find("boxes[1].device_budget") !=
          std::string::npos);
    CHECK(error_of(replaced(good, "[\"worker\"]", "[\"wrker\"]")).find("boxes[1].roles[0]") !=
          std::string::npos);
    CHECK(error_of(replaced(good, "host = \"10.0.0.2\"", "hots = \"10.0.0.2\""))
              .find("boxes[1].hots: unknown key") != std::string::npos);
    CHECK(error_of(replaced(good, "name = \"w2\"", "name = \"w1\"")).find("boxes[2].name") !=
          std::string::npos);
    CHECK(error_of(replaced(good, "curve = true", "curve = \"yes\"")).find("cluster.curve") !=
          std::string::npos);
    CHECK(error_of(replaced(good, "[cluster]", "[cluster]\ntransport = \"telnet\""))
              .find("cluster.transport") != std::string::npos);
    // netns transport needs each box's namespace.
    CHECK(error_of(replaced(good, "[cluster]", "[cluster]\ntransport = \"netns\""))
              .find("boxes[0].netns") != std::string::npos);
    // Two gateways on one host and port.
    CHECK(error_of(replaced(replaced(good, "host = \"10.0.0.3\"", "host = \"10.0.0.2\""),
                            "port = 6000", "port = 9464"))
              .find("boxes[2].port: 9464 is already used on 10.0.0.2") != std::string::npos);
    // A worker with no executors, and a cluster with no coordinator.
    CHECK(error_of(replaced(good, "device_budget = \"512MiB\"", "executors = 0"))
              .find("boxes[1].executors") != std::string::npos);
    auto no_coordinator = replaced(replaced(replaced(good, "executors = 0", "executors = 1"),
                                            "[\"coordinator\"]", "[\"worker\"]"),
                                   "[\"worker\", \"coordinator\"]", "[\"worker\"]");
    CHECK(error_of(no_coordinator).find("coordinator role") != std::string::npos);
    // TOML syntax errors carry the line.
    CHECK(error_of("[cluster\n").find("c.toml:1") != std::string::npos);
    CHECK(error_of(good).empty());
  }

  TEST_CASE("a box's node configuration reads back valid") {
    auto spec = parse_cluster_file(good, "c.toml");
    REQUIRE(spec);
    cluster_keys keys;
    keys.box_public = {
        {"gw", std::string(40, 'A')}, {"w1", std::string(40, 'B')}, {"w2", std::string(40, 'C')}};
    keys.clients = {std::string(40, 'D')};
    test::scratch_dir dir{"cluster-file"};
    auto path = dir.path() + "/gw.toml";
    std::ofstream{path} << node_config_toml(*spec, spec->boxes[0], keys);
    node_config cfg;
    REQUIRE_FALSE(apply_config_file(cfg, path));
    CHECK_FALSE(validate_config(cfg));
    CHECK(cfg.node_name == "gw");
    CHECK(cfg.executors == 0);
    CHECK(cfg.listen == "tcp://0.0.0.0:5555");
    CHECK(cfg.metrics_listen == "0.0.0.0:9464");
    REQUIRE(cfg.peers.size() == 2);
    CHECK(cfg.peers[1] == "tcp://10.0.0.3:6000");
    CHECK(cfg.curve_secret_key_file == "/opt/tessera/keys/node.key");
    CHECK(cfg.curve_allow.size() == 4);
    REQUIRE(cfg.curve_peer_keys.size() == 2);
    CHECK(cfg.curve_peer_keys[0] == std::string(40, 'B'));
  }
}
