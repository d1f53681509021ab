#include "tessera/sim/scenario.hpp"

#include "tessera/core/error.hpp"

#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace tessera::sim {

namespace {

// Reads the fields of one table, checking types and ranges; the first error
// wins and names "section.field".
class field_reader {
public:
  field_reader(const toml::table* table, std::string section, caf::error& err)
    : table_(table), section_(std::move(section)), err_(err) {
    // nop
  }

  std::string field(const std::string& key) const {
    return section_.empty() ? key : section_ + "." + key;
  }

  void fail(const std::string& key, const std::string& what) {
    if (!err_)
      err_ = make_error(ec::bad_config, "scenario field " + field(key) + ": " + what);
  }

  /// Rejects keys that are not in `known` (a typo would otherwise be ignored).
  void only(std::initializer_list<const char*> known) {
    if (table_ == nullptr)
      return;
    std::set<std::string> names;
    for (auto k : known)
      names.insert(k);
    for (const auto& [key, value] : *table_)
      if (names.count(std::string{key.str()}) == 0)
        fail(std::string{key.str()}, "unknown field");
  }

  void number(const char* key, double& out, double min, double max) {
    const toml::node* n = table_ == nullptr ? nullptr : table_->get(key);
    if (n == nullptr)
      return;
    auto v = n->value<double>();
    if (!v)
      return fail(key, "must be a number");
    if (*v < min || *v > max)
      return fail(key, "must lie in [" + trim(min) + ", " + trim(max) + "], got " + trim(*v));
    out = *v;
  }

  template <class Int>
  void integer(const char* key, Int& out, int64_t min, int64_t max) {
    const toml::node* n = table_ == nullptr ? nullptr : table_->get(key);
    if (n == nullptr)
      return;
    auto v = n->value<int64_t>();
    if (!v || !n->is_integer())
      return fail(key, "must be an integer");
    if (*v < min || *v > max)
      return fail(key, "must lie in [" + std::to_string(min) + ", " + std::to_string(max) + "], got "
                         + std::to_string(*v));
    out = static_cast<Int>(*v);
  }

  void text(const char* key, std::string& out) {
    const toml::node* n = table_ == nullptr ? nullptr : table_->get(key);
    if (n == nullptr)
      return;
    auto v = n->value<std::string>();
    if (!v)
      return fail(key, "must be a string");
    out = *v;
  }

  void flag(const char* key, bool& out) {
    const toml::node* n = table_ == nullptr ? nullptr : table_->get(key);
    if (n == nullptr)
      return;
    auto v = n->value<bool>();
    if (!v)
      return fail(key, "must be true or false");
    out = *v;
  }

  const toml::node* get(const char* key) const {
    return table_ == nullptr ? nullptr : table_->get(key);
  }

private:
  static std::string trim(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  }

  const toml::table* table_;
  std::string section_;
  caf::error& err_;
};

// The node fields; a [[configs]] entry may override all but count.
void node_fields(field_reader& r, node_spec& n) {
  r.integer("count", n.count, 1, 100000);
  r.integer("executors", n.executors, 1, 64);
  r.number("budget_mb", n.budget_mb, 0.001, 1.0e9);
  r.number("load_mb_per_s", n.load_mb_per_s, 0.001, 1.0e9);
  r.number("executor_speed", n.executor_speed, 0.01, 1.0);
  r.flag("swap", n.swap);
  r.number("review_interval_ms", n.review_interval_ms, 0.0, 1.0e6);
  r.integer("max_replicas", n.max_replicas, 0, 100000);
  std::string residency;
  r.text("residency", residency);
  if (residency == "lru_blocks")
    n.residency = residency_policy::lru_blocks;
  else if (residency == "lru_models")
    n.residency = residency_policy::lru_models;
  else if (residency == "last_model")
    n.residency = residency_policy::last_model;
  else if (!residency.empty())
    r.fail("residency", "must be lru_blocks, lru_models or last_model, got \"" + residency + "\"");
  std::string placement;
  r.text("placement", placement);
  if (placement == "static")
    n.placement = placement_kind::fixed;
  else if (placement == "dynamic")
    n.placement = placement_kind::dynamic;
  else if (!placement.empty())
    r.fail("placement", "must be \"dynamic\" or \"static\", got \"" + placement + "\"");
  if (n.swap && n.residency != residency_policy::lru_blocks)
    r.fail("swap", "needs residency = \"lru_blocks\" (swapping keeps the bottom blocks that fit)");
}

void read_nodes(const toml::table* t, node_spec& n, caf::error& err) {
  field_reader r{t, "nodes", err};
  r.only({"count", "executors", "budget_mb", "load_mb_per_s", "residency", "placement", "executor_speed", "swap",
           "review_interval_ms", "max_replicas"});
  node_fields(r, n);
}

// How synthetic models share: sharing (bottom or none) and unit (model or group).
void sharing_fields(field_reader& r, synthetic_spec& s) {
  std::string sharing;
  r.text("sharing", sharing);
  if (sharing == "none")
    s.shared_trunk = false;
  else if (sharing == "bottom")
    s.shared_trunk = true;
  else if (!sharing.empty())
    r.fail("sharing", "must be \"bottom\" or \"none\", got \"" + sharing + "\"");
  std::string unit;
  r.text("unit", unit);
  if (unit == "group")
    s.fused = true;
  else if (unit == "model")
    s.fused = false;
  else if (!unit.empty())
    r.fail("unit", "must be \"model\" or \"group\", got \"" + unit + "\"");
}

void read_models(const toml::table* t, model_spec& m, caf::error& err) {
  field_reader r{t, "models", err};
  r.only({"source", "names", "exec_ms_per_mb", "exec_ms", "families", "variants", "trunk_blocks", "trunk_mb",
          "head_mb", "sharing", "unit"});
  std::string source = "synthetic";
  r.text("source", source);
  if (source == "zoo")
    m.source = model_source::zoo;
  else if (source != "synthetic")
    r.fail("source", "must be \"synthetic\" or \"zoo\", got \"" + source + "\"");
  r.number("exec_ms_per_mb", m.exec_ms_per_mb, 0.0, 1.0e6);
  if (const auto* names = r.get("names")) {
    if (auto all = names->value<std::string>(); all && *all == "all")
      m.zoo_names.clear();
    else if (const auto* arr = names->as_array()) {
      for (const auto& item : *arr) {
        auto s = item.value<std::string>();
        if (!s)
          return r.fail("names", "must be \"all\" or an array of model names");
        m.zoo_names.push_back(*s);
      }
      if (m.zoo_names.empty())
        r.fail("names", "must not be empty (use \"all\")");
    } else {
      r.fail("names", "must be \"all\" or an array of model names");
    }
  }
  if (const auto* times = r.get("exec_ms")) {
    const auto* table = times->as_table();
    if (table == nullptr)
      return r.fail("exec_ms", "must be a table of model = milliseconds");
    for (const auto& [key, value] : *table) {
      auto v = value.value<double>();
      if (!v || *v <= 0.0)
        return r.fail("exec_ms." + std::string{key.str()}, "must be a positive number");
      m.exec_ms[std::string{key.str()}] = *v;
    }
  }
  auto& s = m.synthetic;
  r.integer("families", s.families, 1, 10000);
  r.integer("variants", s.variants, 1, 10000);
  r.integer("trunk_blocks", s.trunk_blocks, 1, 1000);
  r.number("trunk_mb", s.trunk_mb, 0.0, 1.0e6);
  r.number("head_mb", s.head_mb, 0.0, 1.0e6);
  sharing_fields(r, s);
  if (s.fused && m.source == model_source::zoo)
    r.fail("unit", "groups are built from synthetic families; fuse zoo models with `tessera fuse`");
}

void uplink_field(field_reader& r, bool& edf) {
  std::string uplink;
  r.text("uplink", uplink);
  if (uplink == "edf")
    edf = true;
  else if (uplink == "equal")
    edf = false;
  else if (!uplink.empty())
    r.fail("uplink", "must be \"equal\" or \"edf\", got \"" + uplink + "\"");
}

void read_workload(const toml::table* t, workload_spec& w, const std::string& base_dir, caf::error& err) {
  field_reader r{t, "workload", err};
  r.only({"kind", "rate_per_s", "on_ms", "off_ms", "period_ms", "amplitude", "trace", "load_levels", "requests",
          "duration_ms", "zipf", "slack_min", "slack_max", "uplink_mb_per_s", "input_kb", "uplink"});
  std::string kind = "poisson";
  r.text("kind", kind);
  if (kind == "poisson")
    w.kind = arrival_kind::poisson;
  else if (kind == "bursty")
    w.kind = arrival_kind::bursty;
  else if (kind == "diurnal")
    w.kind = arrival_kind::diurnal;
  else if (kind == "trace")
    w.kind = arrival_kind::trace;
  else
    r.fail("kind", "must be poisson, bursty, diurnal or trace, got \"" + kind + "\"");
  r.number("rate_per_s", w.rate_per_s, 1.0e-6, 1.0e9);
  r.number("on_ms", w.on_ms, 0.001, 1.0e12);
  r.number("off_ms", w.off_ms, 0.0, 1.0e12);
  r.number("period_ms", w.period_ms, 0.001, 1.0e12);
  r.number("amplitude", w.amplitude, 0.0, 0.999);
  r.integer("requests", w.requests, 1, 1000000000);
  r.number("duration_ms", w.duration_ms, 0.0, 1.0e12);
  r.number("zipf", w.zipf, 0.0, 10.0);
  r.number("slack_min", w.slack_min, 0.0, 1.0e6);
  r.number("slack_max", w.slack_max, 0.0, 1.0e6);
  if (w.slack_max < w.slack_min)
    r.fail("slack_max", "must not be below slack_min");
  r.number("uplink_mb_per_s", w.uplink_mb_per_s, 0.0, 1.0e9);
  r.number("input_kb", w.input_kb, 0.0, 1.0e9);
  uplink_field(r, w.uplink_edf);
  r.text("trace", w.trace_path);
  if (w.kind == arrival_kind::trace) {
    if (w.trace_path.empty())
      r.fail("trace", "is required when kind = \"trace\"");
    else if (std::filesystem::path{w.trace_path}.is_relative())
      w.trace_path = (std::filesystem::path{base_dir} / w.trace_path).string();
  }
  if (const auto* levels = r.get("load_levels")) {
    const auto* arr = levels->as_array();
    if (arr == nullptr || arr->empty())
      return r.fail("load_levels", "must be a non-empty array of positive numbers");
    w.load_levels.clear();
    for (const auto& item : *arr) {
      auto v = item.value<double>();
      if (!v || *v <= 0.0)
        return r.fail("load_levels", "must be a non-empty array of positive numbers");
      w.load_levels.push_back(*v);
    }
  }
}

void read_policies(const toml::node* n, std::vector<actors::queue_order>& out, caf::error& err,
                   const std::string& section = "") {
  field_reader r{nullptr, section, err};
  if (n == nullptr)
    return;
  const auto* arr = n->as_array();
  if (arr == nullptr || arr->empty())
    return r.fail("policies", "must be a non-empty array of reuse_aware, edf, fifo");
  out.clear();
  for (const auto& item : *arr) {
    auto s = item.value<std::string>();
    if (s && *s == "reuse_aware")
      out.push_back(actors::queue_order::reuse_aware);
    else if (s && *s == "edf")
      out.push_back(actors::queue_order::edf);
    else if (s && *s == "fifo")
      out.push_back(actors::queue_order::fifo);
    else
      return r.fail("policies", "unknown policy \"" + s.value_or("?") + "\" (reuse_aware, edf, fifo)");
  }
}

void read_faults(const toml::node* n, const node_spec& nodes, std::vector<fault_spec>& out, caf::error& err) {
  if (n == nullptr)
    return;
  const auto* arr = n->as_array();
  if (arr == nullptr) {
    field_reader{nullptr, "", err}.fail("faults", "must be an array of tables ([[faults]])");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    field_reader r{arr->get(i)->as_table(), "faults[" + std::to_string(i) + "]", err};
    if (arr->get(i)->as_table() == nullptr)
      return r.fail("node", "each fault must be a table with node and at_ms");
    r.only({"node", "at_ms"});
    fault_spec f;
    if (r.get("node") == nullptr)
      r.fail("node", "is required");
    r.integer("node", f.node, 0, static_cast<int64_t>(nodes.count) - 1);
    r.number("at_ms", f.at_ms, 0.0, 1.0e12);
    out.push_back(f);
  }
}

void read_configs(const toml::node* n, scenario& s, caf::error& err) {
  if (n == nullptr)
    return;
  const auto* arr = n->as_array();
  if (arr == nullptr) {
    field_reader{nullptr, "", err}.fail("configs", "must be an array of tables ([[configs]])");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    auto section = "configs[" + std::to_string(i) + "]";
    const auto* t = arr->get(i)->as_table();
    field_reader r{t, section, err};
    if (t == nullptr)
      return r.fail("name", "each config must be a table with a name");
    r.only({"name", "executors", "budget_mb", "load_mb_per_s", "residency", "placement", "executor_speed", "swap",
           "review_interval_ms", "max_replicas",
            "sharing", "unit", "policies", "uplink"});
    config_spec c{"", s.nodes, s.models, s.policies, s.workload.uplink_edf};
    r.text("name", c.name);
    if (c.name.empty() || c.name.find_first_of("/\\ ,") != std::string::npos)
      r.fail("name", "is required: a short name without spaces, commas or slashes");
    for (const auto& other : s.configs)
      if (other.name == c.name)
        r.fail("name", "\"" + c.name + "\" is used twice");
    node_fields(r, c.nodes);
    sharing_fields(r, c.models.synthetic);
    uplink_field(r, c.uplink_edf);
    read_policies(r.get("policies"), c.policies, err, section);
    s.configs.push_back(std::move(c));
  }
}

} // namespace

scenario with_config(const scenario& s, const config_spec& c) {
  scenario out = s;
  out.nodes = c.nodes;
  out.models = c.models;
  out.policies = c.policies;
  out.workload.uplink_edf = c.uplink_edf;
  out.configs.clear();
  return out;
}

caf::expected<scenario> parse_scenario_text(const std::string& text, const std::string& base_dir) {
  toml::table doc;
  try {
    doc = toml::parse(text);
  } catch (const toml::parse_error& e) {
    return make_error(ec::bad_config, "scenario: " + std::string{e.description()} + " (line "
                                        + std::to_string(e.source().begin.line) + ")");
  }
  scenario s;
  caf::error err;
  field_reader top{&doc, "", err};
  top.only({"name", "description", "seed", "bucket_ms", "mode", "speedup", "policies", "nodes", "models", "workload",
            "faults", "configs"});
  std::string mode = "virtual";
  top.text("mode", mode);
  if (mode == "realtime")
    s.mode = run_mode::real_time;
  else if (mode != "virtual")
    top.fail("mode", "must be \"virtual\" or \"realtime\", got \"" + mode + "\"");
  top.number("speedup", s.speedup, 0.01, 1000.0);
  top.text("name", s.name);
  top.text("description", s.description);
  top.integer("seed", s.seed, 0, INT64_MAX);
  top.number("bucket_ms", s.bucket_ms, 0.001, 1.0e12);
  read_nodes(doc["nodes"].as_table(), s.nodes, err);
  read_models(doc["models"].as_table(), s.models, err);
  read_workload(doc["workload"].as_table(), s.workload, base_dir, err);
  read_policies(doc.get("policies"), s.policies, err);
  read_faults(doc.get("faults"), s.nodes, s.faults, err);
  read_configs(doc.get("configs"), s, err);
  if (s.mode == run_mode::real_time)
    for (size_t i = 0; i < s.faults.size(); ++i)
      if (s.faults[i].node == 0)
        top.fail("faults[" + std::to_string(i) + "].node",
                 "node 0 faces the clients in real-time mode and cannot fail");
  if (err)
    return err;
  return s;
}

caf::expected<scenario> load_scenario(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return make_error(ec::io_error, "cannot read scenario " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto s = parse_scenario_text(text.str(), std::filesystem::path{path}.parent_path().string());
  if (!s)
    return make_error(ec::bad_config, path + ": " + describe(s.error()));
  if (s->name.empty())
    s->name = std::filesystem::path{path}.stem().string();
  return s;
}

const char* to_string(actors::queue_order order) {
  switch (order) {
    case actors::queue_order::reuse_aware:
      return "reuse_aware";
    case actors::queue_order::edf:
      return "edf";
    case actors::queue_order::fifo:
      return "fifo";
  }
  return "?";
}

} // namespace tessera::sim
