#include "tessera/core/cluster_file.hpp"

#include "tessera/core/error.hpp"
#include "tessera/core/node_config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace tessera {

namespace {

caf::error bad(const std::string& field, const std::string& what) {
  return make_error(ec::bad_config, field + ": " + what);
}

// Reads the fields of one TOML table, refusing keys nobody asked for, so that
// a typo is an error instead of a silently ignored setting.
class table_reader {
public:
  table_reader(const toml::table& table, std::string path) : table_(table), path_(std::move(path)) {
    // nop
  }

  std::string field(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  caf::error text(const std::string& key, std::string& out) {
    auto* node = table_.get(key);
    if (node == nullptr)
      return {};
    auto v = node->value<std::string>();
    if (!v || node->is_number())
      return bad(field(key), "must be a string");
    out = *v;
    return {};
  }

  caf::error flag(const std::string& key, bool& out) {
    auto* node = table_.get(key);
    if (node == nullptr)
      return {};
    if (!node->is_boolean())
      return bad(field(key), "must be true or false");
    out = node->value<bool>().value_or(out);
    return {};
  }

  caf::error integer(const std::string& key, int64_t lo, int64_t hi, int64_t& out) {
    auto* node = table_.get(key);
    if (node == nullptr)
      return {};
    if (!node->is_integer())
      return bad(field(key), "must be an integer");
    auto v = *node->value<int64_t>();
    if (v < lo || v > hi)
      return bad(field(key),
                 std::to_string(v) + " is not in " + std::to_string(lo) + "-" + std::to_string(hi));
    out = v;
    return {};
  }

  caf::error strings(const std::string& key, std::vector<std::string>& out) {
    auto* node = table_.get(key);
    if (node == nullptr)
      return {};
    auto* arr = node->as_array();
    if (arr == nullptr)
      return bad(field(key), "must be an array of strings");
    out.clear();
    for (size_t i = 0; i < arr->size(); ++i) {
      auto v = (*arr)[i].value<std::string>();
      if (!v || (*arr)[i].is_number())
        return bad(field(key) + "[" + std::to_string(i) + "]", "must be a string");
      out.push_back(*v);
    }
    return {};
  }

  /// A size: an integer of bytes, or text with KiB/MiB/GiB (as in node config).
  caf::error size(const std::string& key, uint64_t& out) {
    auto* node = table_.get(key);
    if (node == nullptr)
      return {};
    std::string text;
    if (auto i = node->value<int64_t>(); i && node->is_integer())
      text = std::to_string(*i);
    else if (auto s = node->value<std::string>())
      text = *s;
    else
      return bad(field(key), "must be bytes or a size such as \"2GiB\"");
    node_config probe;
    if (auto err = set_config_value(probe, "device_budget_bytes", text))
      return bad(field(key), "\"" + text + "\" is not a size (bytes, KiB, MiB or GiB)");
    out = probe.device_budget_bytes;
    return {};
  }

  /// Refuses keys outside `keys`; checked first, so a misspelt key is named
  /// rather than the default it left in place.
  caf::error only(std::initializer_list<const char*> keys) const {
    for (const auto& [key, value] : table_)
      if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return key.str() == k; }))
        return bad(field(std::string{key.str()}), "unknown key");
    return {};
  }

private:
  const toml::table& table_;
  std::string path_;
};

bool is_name(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
}

caf::error read_settings(table_reader& r, cluster_settings& s) {
  if (auto err = r.only({"name", "transport", "service", "install_dir", "binary", "store",
                         "keys_dir", "install_deps", "curve", "client_keys"}))
    return err;
  if (auto err = r.text("name", s.name))
    return err;
  if (!is_name(s.name))
    return bad(r.field("name"), "\"" + s.name + "\" is not a name (letters, digits, - _ .)");
  if (auto err = r.text("transport", s.transport))
    return err;
  if (s.transport != "ssh" && s.transport != "netns")
    return bad(r.field("transport"), "\"" + s.transport + "\" is not ssh or netns");
  if (auto err = r.text("service", s.service))
    return err;
  if (s.service != "systemd" && s.service != "nohup")
    return bad(r.field("service"), "\"" + s.service + "\" is not systemd or nohup");
  if (auto err = r.text("install_dir", s.install_dir))
    return err;
  if (s.install_dir.empty() || s.install_dir.front() != '/')
    return bad(r.field("install_dir"), "must be an absolute path");
  for (auto [key, member] :
       {std::pair{"binary", &s.binary}, {"store", &s.store}, {"keys_dir", &s.keys_dir}}) {
    if (auto err = r.text(key, *member))
      return err;
    if (member->empty())
      return bad(r.field(key), "must not be empty");
  }
  if (auto err = r.flag("install_deps", s.install_deps))
    return err;
  if (auto err = r.flag("curve", s.curve))
    return err;
  if (auto err = r.strings("client_keys", s.client_keys))
    return err;
  return {};
}

caf::error read_box(table_reader& r, const cluster_settings& s, cluster_box& b) {
  if (auto err = r.only({"name", "host", "ssh_user", "ssh_port", "netns", "roles", "port",
                         "metrics_port", "device", "device_budget", "executors", "store_path"}))
    return err;
  for (auto [key, member] : {std::pair{"name", &b.name},
                             {"host", &b.host},
                             {"ssh_user", &b.ssh_user},
                             {"netns", &b.netns},
                             {"device", &b.device},
                             {"store_path", &b.store_path}})
    if (auto err = r.text(key, *member))
      return err;
  if (!is_name(b.name))
    return bad(r.field("name"), "\"" + b.name + "\" is not a name (letters, digits, - _ .)");
  if (b.host.empty() || b.host.find_first_of(" /:@") != std::string::npos)
    return bad(r.field("host"), "\"" + b.host + "\" is not a host name or IPv4 address");
  if (s.transport == "ssh" && !is_name(b.ssh_user))
    return bad(r.field("ssh_user"), "\"" + b.ssh_user + "\" is not a user name");
  if (s.transport == "netns" && !is_name(b.netns))
    return bad(r.field("netns"), "the netns transport needs the box's namespace name");
  int64_t v = b.ssh_port;
  if (auto err = r.integer("ssh_port", 1, 65535, v))
    return err;
  b.ssh_port = static_cast<uint16_t>(v);
  v = b.port;
  if (auto err = r.integer("port", 1, 65535, v))
    return err;
  b.port = static_cast<uint16_t>(v);
  v = b.metrics_port;
  if (auto err = r.integer("metrics_port", 0, 65535, v))
    return err;
  b.metrics_port = static_cast<uint16_t>(v);
  if (b.metrics_port == b.port)
    return bad(r.field("metrics_port"), "must differ from port " + std::to_string(b.port));
  v = b.executors;
  if (auto err = r.integer("executors", 0, 64, v))
    return err;
  b.executors = static_cast<uint32_t>(v);
  if (auto err = r.size("device_budget", b.device_budget_bytes))
    return err;
  if (b.device_budget_bytes < (1ull << 20))
    return bad(r.field("device_budget"), "must be at least 1 MiB");
  if (b.device != "cpu" && b.device.rfind("cuda:", 0) != 0)
    return bad(r.field("device"), "\"" + b.device + "\" is neither cpu nor cuda:N");
  if (b.store_path.empty() || b.store_path.front() != '/')
    return bad(r.field("store_path"), "must be an absolute path");
  if (auto err = r.strings("roles", b.roles))
    return err;
  if (b.roles.empty())
    return bad(r.field("roles"), "needs at least one of coordinator, worker");
  for (size_t i = 0; i < b.roles.size(); ++i)
    if (b.roles[i] != "coordinator" && b.roles[i] != "worker")
      return bad(r.field("roles") + "[" + std::to_string(i) + "]",
                 "\"" + b.roles[i] + "\" is not coordinator or worker");
  if (b.has_role("worker") && b.executors == 0)
    return bad(r.field("executors"), "a worker needs at least 1 executor");
  return {};
}

caf::error check_cluster(const cluster_spec& spec) {
  if (spec.boxes.empty())
    return bad("boxes", "the cluster has no boxes");
  std::set<std::string> names;
  std::set<std::string> ports;
  bool coordinator = false;
  bool worker = false;
  for (size_t i = 0; i < spec.boxes.size(); ++i) {
    const auto& b = spec.boxes[i];
    auto at = "boxes[" + std::to_string(i) + "]";
    if (!names.insert(b.name).second)
      return bad(at + ".name", "\"" + b.name + "\" names two boxes");
    auto where = spec.settings.transport == "netns" ? b.netns : b.host;
    if (!ports.insert(where + ":" + std::to_string(b.port)).second)
      return bad(at + ".port", std::to_string(b.port) + " is already used on " + where);
    if (b.metrics_port != 0 && !ports.insert(where + ":" + std::to_string(b.metrics_port)).second)
      return bad(at + ".metrics_port",
                 std::to_string(b.metrics_port) + " is already used on " + where);
    coordinator = coordinator || b.has_role("coordinator");
    worker = worker || b.has_role("worker");
    if (b.has_role("coordinator") && b.executors == 0 && peers_of(spec, b).empty())
      return bad(at + ".executors", "a coordinator without executors needs worker boxes");
  }
  if (!coordinator)
    return bad("boxes", "no box has the coordinator role");
  if (!worker)
    return bad("boxes", "no box has the worker role");
  return {};
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i)
    out += (i == 0 ? "" : ", ") + quoted(items[i]);
  return out + "]";
}

} // namespace

bool cluster_box::has_role(const std::string& role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

caf::expected<cluster_spec> parse_cluster_file(const std::string& text, const std::string& source) {
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return make_error(ec::bad_config, source + ":" + std::to_string(e.source().begin.line) + ": " +
                                          std::string{e.description()});
  }
  cluster_spec spec;
  auto fail = [&](const caf::error& err) { return wrap(err, source); };
  for (const auto& [key, value] : doc)
    if (key.str() != "cluster" && key.str() != "boxes")
      return fail(bad(std::string{key.str()}, "unknown key (expected [cluster] and [[boxes]])"));
  if (auto* node = doc.get("cluster")) {
    auto* table = node->as_table();
    if (table == nullptr)
      return fail(bad("cluster", "must be a table"));
    table_reader r{*table, "cluster"};
    if (auto err = read_settings(r, spec.settings))
      return fail(err);
  }
  if (auto* node = doc.get("boxes")) {
    auto* arr = node->as_array();
    if (arr == nullptr)
      return fail(bad("boxes", "must be an array of tables ([[boxes]])"));
    for (size_t i = 0; i < arr->size(); ++i) {
      auto at = "boxes[" + std::to_string(i) + "]";
      auto* table = (*arr)[i].as_table();
      if (table == nullptr)
        return fail(bad(at, "must be a table"));
      cluster_box box;
      table_reader r{*table, at};
      if (auto err = read_box(r, spec.settings, box))
        return fail(err);
      spec.boxes.push_back(std::move(box));
    }
  }
  if (auto err = check_cluster(spec))
    return fail(err);
  return spec;
}

caf::expected<cluster_spec> load_cluster_file(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return make_error(ec::io_error, path + ": cannot read the cluster file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_cluster_file(text.str(), path);
}

std::vector<const cluster_box*> peers_of(const cluster_spec& spec, const cluster_box& box) {
  std::vector<const cluster_box*> out;
  if (!box.has_role("coordinator"))
    return out;
  for (const auto& b : spec.boxes)
    if (&b != &box && b.name != box.name && b.has_role("worker"))
      out.push_back(&b);
  return out;
}

std::string endpoint_of(const cluster_box& box) {
  return "tcp://" + box.host + ":" + std::to_string(box.port);
}

std::string node_config_toml(const cluster_spec& spec, const cluster_box& box,
                             const cluster_keys& keys) {
  auto peers = peers_of(spec, box);
  std::vector<std::string> peer_endpoints;
  for (const auto* p : peers)
    peer_endpoints.push_back(endpoint_of(*p));
  std::ostringstream out;
  out << "# Made by `tessera cluster node-config` for box " << box.name << " of cluster "
      << spec.settings.name << "; edit the cluster file instead.\n";
  out << "node_name = " << quoted(box.name) << "\n";
  out << "listen = " << quoted("tcp://0.0.0.0:" + std::to_string(box.port)) << "\n";
  out << "store_path = " << quoted(box.store_path) << "\n";
  out << "device = " << quoted(box.device) << "\n";
  out << "device_budget_bytes = " << box.device_budget_bytes << "\n";
  out << "executors = " << box.executors << "\n";
  out << "peers = " << quoted_list(peer_endpoints) << "\n";
  if (box.metrics_port != 0)
    out << "metrics_listen = " << quoted("0.0.0.0:" + std::to_string(box.metrics_port)) << "\n";
  if (spec.settings.curve) {
    out << "curve_secret_key_file = " << quoted(spec.settings.install_dir + "/keys/node.key")
        << "\n";
    std::vector<std::string> allow;
    for (const auto& [name, key] : keys.box_public)
      allow.push_back(key);
    allow.insert(allow.end(), keys.clients.begin(), keys.clients.end());
    out << "curve_allow = " << quoted_list(allow) << "\n";
    std::vector<std::string> peer_keys;
    for (const auto* p : peers) {
      auto k = keys.box_public.find(p->name);
      peer_keys.push_back(k == keys.box_public.end() ? std::string{} : k->second);
    }
    out << "curve_peer_keys = " << quoted_list(peer_keys) << "\n";
  }
  return out.str();
}

} // namespace tessera
