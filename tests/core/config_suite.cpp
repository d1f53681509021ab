#include "tessera/core/error.hpp"
#include "tessera/core/node_config.hpp"
#include "scratch_dir.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>

using namespace tessera;

TEST_SUITE("config") {
  TEST_CASE("file, then environment, then flags") {
    test::scratch_dir dir{"config"};
    auto path = dir.path() + "/node.toml";
    std::ofstream{path} << "[node]\nstore_path = \"/srv/store\"\ndevice_budget_bytes = \"512MiB\"\n"
                           "load_mode = \"copy\"\n";
    node_config cfg;
    REQUIRE_FALSE(apply_config_file(cfg, path));
    CHECK(cfg.store_path == "/srv/store");
    CHECK(cfg.device_budget_bytes == 512ull << 20);
    CHECK(cfg.mode == load_mode::copy);
    ::setenv("TESSERA_STORE_PATH", "/env/store", 1);
    REQUIRE_FALSE(apply_config_env(cfg));
    ::unsetenv("TESSERA_STORE_PATH");
    CHECK(cfg.store_path == "/env/store");
    REQUIRE_FALSE(set_config_value(cfg, "store_path", "/flag/store"));
    CHECK(cfg.store_path == "/flag/store");
    CHECK_FALSE(validate_config(cfg));
  }

  TEST_CASE("bad values name the field") {
    node_config cfg;
    auto err = set_config_value(cfg, "device_budget_bytes", "lots");
    CHECK(code_of(err) == ec::bad_config);
    CHECK(describe(err).find("device_budget_bytes") != std::string::npos);
    CHECK(describe(set_config_value(cfg, "no_such_key", "1")).find("no_such_key") != std::string::npos);
    cfg.device = "tpu";
    CHECK(describe(validate_config(cfg)).find("device") != std::string::npos);
    test::scratch_dir dir{"config"};
    auto path = dir.path() + "/bad.toml";
    std::ofstream{path} << "verify_blobs = \"perhaps\"\n";
    node_config c2;
    auto file_err = apply_config_file(c2, path);
    CHECK(describe(file_err).find("verify_blobs") != std::string::npos);
    CHECK(describe(file_err).find("bad.toml") != std::string::npos);
  }

  TEST_CASE(
      "uplink_capacity_mbps: off by default, a number from a file, the environment or a flag") {
    node_config cfg;
    CHECK(cfg.uplink_capacity_mbps == 0.0);
    CHECK(get_config_value(cfg, "uplink_capacity_mbps") == "0");
    test::scratch_dir dir{"config"};
    auto path = dir.path() + "/uplink.toml";
    std::ofstream{path} << "uplink_capacity_mbps = 12.5\n";
    REQUIRE_FALSE(apply_config_file(cfg, path));
    CHECK(cfg.uplink_capacity_mbps == 12.5);
    CHECK(get_config_value(cfg, "uplink_capacity_mbps") == "12.5");
    ::setenv("TESSERA_UPLINK_CAPACITY_MBPS", "40", 1);
    REQUIRE_FALSE(apply_config_env(cfg));
    ::unsetenv("TESSERA_UPLINK_CAPACITY_MBPS");
    CHECK(cfg.uplink_capacity_mbps == 40.0);
    REQUIRE_FALSE(set_config_value(cfg, "uplink_capacity_mbps", "0.8"));
    CHECK(cfg.uplink_capacity_mbps == 0.8);
    for (const char* bad : {"-1", "fast", "inf", "3x"}) {
      auto err = set_config_value(cfg, "uplink_capacity_mbps", bad);
      CHECK(code_of(err) == ec::bad_config);
      CHECK(describe(err).find("uplink_capacity_mbps") != std::string::npos);
    }
    CHECK(cfg.uplink_capacity_mbps == 0.8);
  }

  TEST_CASE("every entry is documented") {
    for (const auto& e : describe_config()) {
      CHECK_FALSE(e.help.empty());
      CHECK(e.env.rfind("TESSERA_", 0) == 0);
    }
  }
}
