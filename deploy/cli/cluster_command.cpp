// `tessera cluster`: the cluster file as deploy/tessera-cluster needs it.
// `check` validates it, `show --shell` prints it as bash arrays (paths made
// absolute), and `node-config BOX` prints the node configuration of one box.
#include "commands.hpp"

#include "tessera/core/cluster_file.hpp"
#include "tessera/core/error.hpp"
#include "tessera/transport/curve.hpp"

#include <cstdio>
#include <filesystem>

namespace tessera::cli {

namespace {

namespace fs = std::filesystem;

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return out + "'";
}

// Paths in the cluster file are relative to the file.
std::string beside(const std::string& cluster_file, const std::string& path) {
  if (!path.empty() && path.front() == '/')
    return path;
  return (fs::absolute(cluster_file).parent_path() / path).lexically_normal().string();
}

template <class Get>
void print_array(const char* name, const cluster_spec& spec, Get get) {
  std::printf("%s=(", name);
  for (size_t i = 0; i < spec.boxes.size(); ++i)
    std::printf("%s%s", i == 0 ? "" : " ", shell_quoted(get(spec.boxes[i])).c_str());
  std::printf(")\n");
}

void print_shell(const std::string& file, const cluster_spec& spec) {
  const auto& s = spec.settings;
  std::printf("cluster_name=%s\n", shell_quoted(s.name).c_str());
  std::printf("cluster_transport=%s\n", shell_quoted(s.transport).c_str());
  std::printf("cluster_service=%s\n", shell_quoted(s.service).c_str());
  std::printf("cluster_install_dir=%s\n", shell_quoted(s.install_dir).c_str());
  std::printf("cluster_binary=%s\n", shell_quoted(beside(file, s.binary)).c_str());
  std::printf("cluster_store=%s\n", shell_quoted(beside(file, s.store)).c_str());
  std::printf("cluster_keys_dir=%s\n", shell_quoted(beside(file, s.keys_dir)).c_str());
  std::printf("cluster_install_deps=%d\n", s.install_deps ? 1 : 0);
  std::printf("cluster_curve=%d\n", s.curve ? 1 : 0);
  print_array("box_name", spec, [](const cluster_box& b) { return b.name; });
  print_array("box_host", spec, [](const cluster_box& b) { return b.host; });
  print_array("box_user", spec, [](const cluster_box& b) { return b.ssh_user; });
  print_array("box_ssh_port", spec,
              [](const cluster_box& b) { return std::to_string(b.ssh_port); });
  print_array("box_netns", spec, [](const cluster_box& b) { return b.netns; });
  print_array("box_port", spec, [](const cluster_box& b) { return std::to_string(b.port); });
  print_array("box_metrics_port", spec,
              [](const cluster_box& b) { return std::to_string(b.metrics_port); });
  print_array("box_store_path", spec, [](const cluster_box& b) { return b.store_path; });
  print_array("box_roles", spec, [](const cluster_box& b) {
    std::string out;
    for (const auto& r : b.roles)
      out += (out.empty() ? "" : ",") + r;
    return out;
  });
}

// The public keys of a CURVE cluster: KEYS_DIR/BOX.pub, and the client keys.
caf::expected<cluster_keys> read_keys(const std::string& file, const cluster_spec& spec) {
  cluster_keys keys;
  if (!spec.settings.curve)
    return keys;
  auto dir = beside(file, spec.settings.keys_dir);
  for (const auto& b : spec.boxes) {
    auto key = transport::read_curve_key_file(dir + "/" + b.name + ".pub");
    if (!key)
      return wrap(key.error(), "box " + b.name + " (make it with `tessera keys gen --out " + dir +
                                   " --name " + b.name + "`)");
    keys.box_public[b.name] = *key;
  }
  for (size_t i = 0; i < spec.settings.client_keys.size(); ++i) {
    const auto& k = spec.settings.client_keys[i];
    auto key =
        transport::resolve_curve_key(transport::validate_curve_key(k, "") ? beside(file, k) : k);
    if (!key)
      return wrap(key.error(), "cluster.client_keys[" + std::to_string(i) + "]");
    keys.clients.push_back(*key);
  }
  return keys;
}

} // namespace

void add_cluster_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cluster =
      app.add_subcommand("cluster", "read a cluster file (see deploy/cluster.example.toml)");
  cluster->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  auto* check =
      cluster->add_subcommand("check", "validate a cluster file; errors name the bad field");
  check->add_option("file", *file, "cluster file")->required();
  check->callback([&action, file] {
    action = [file]() -> int {
      auto spec = load_cluster_file(*file);
      if (!spec)
        return fail(spec.error());
      size_t coordinators = 0;
      for (const auto& b : spec->boxes)
        coordinators += b.has_role("coordinator") ? 1 : 0;
      std::printf("%s: cluster %s, %zu boxes (%zu coordinator%s), transport %s, CURVE %s\n",
                  file->c_str(), spec->settings.name.c_str(), spec->boxes.size(), coordinators,
                  coordinators == 1 ? "" : "s", spec->settings.transport.c_str(),
                  spec->settings.curve ? "on" : "off");
      return 0;
    };
  });
  auto* show =
      cluster->add_subcommand("show", "print the cluster as bash variables (for tessera-cluster)");
  show->add_option("file", *file, "cluster file")->required();
  show->callback([&action, file] {
    action = [file]() -> int {
      auto spec = load_cluster_file(*file);
      if (!spec)
        return fail(spec.error());
      print_shell(*file, *spec);
      return 0;
    };
  });
  auto* node_cfg =
      cluster->add_subcommand("node-config", "print the node configuration (TOML) of one box");
  auto box = std::make_shared<std::string>();
  node_cfg->add_option("file", *file, "cluster file")->required();
  node_cfg->add_option("box", *box, "box name")->required();
  node_cfg->callback([&action, file, box] {
    action = [file, box]() -> int {
      auto spec = load_cluster_file(*file);
      if (!spec)
        return fail(spec.error());
      auto keys = read_keys(*file, *spec);
      if (!keys)
        return fail(keys.error());
      for (const auto& b : spec->boxes)
        if (b.name == *box) {
          std::fputs(node_config_toml(*spec, b, *keys).c_str(), stdout);
          return 0;
        }
      return fail(make_error(ec::invalid_argument, "no box \"" + *box + "\" in " + *file));
    };
  });
  (void)ctx;
}

} // namespace tessera::cli
