#include "tessera/core/fusion_plan.hpp"

#include "tessera/core/error.hpp"
#include "tessera/core/manifest_json.hpp"
#include "tessera/core/model_graph.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>

namespace tessera {

namespace {

// True when `ref` ("name" or "name:version") names manifest `m`.
bool names(const std::string& ref, const model_manifest& m) {
  return ref == m.name || ref == model_ref(m);
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

// The merge key of a node: skeleton, parameters (names and blobs, in binding
// order) and inputs already resolved to DAG values.
std::string merge_key(const node_spec& node, const std::vector<std::string>& dag_inputs) {
  auto key = node.skeleton.to_hex();
  for (const auto& p : node.params)
    key += "|" + p.name + "=" + p.blob.to_hex();
  key += "|<-";
  for (const auto& in : dag_inputs)
    key += "|" + in;
  return key;
}

struct group_input_slot {
  io_spec io;
  std::string first_binder; // "input \"x\" of model \"a:1\"", for errors
};

class planner {
public:
  planner(std::string name, std::vector<model_manifest> members)
      : name_(std::move(name)), models_(std::move(members)) {
    // nop
  }

  caf::expected<fused_plan> run(const std::vector<input_binding>& bindings) {
    std::vector<model_graph> graphs;
    for (const auto& m : models_) {
      auto g = validate_manifest(m);
      if (!g)
        return wrap(g.error(), "group " + quoted(name_));
      graphs.push_back(std::move(*g));
    }
    make_members();
    if (auto err = bind_inputs(bindings))
      return err;
    for (size_t i = 0; i < models_.size(); ++i)
      if (auto err = merge_nodes(i, graphs[i]))
        return err;
    add_outputs(graphs);
    plan_.name = name_;
    plan_.dag.name = name_;
    plan_.dag.family = "group";
    plan_.dag.description = "fused group of";
    for (const auto& m : plan_.members)
      plan_.dag.description += " " + m.model;
    for (auto& slot : slots_)
      plan_.dag.inputs.push_back(slot.io);
    for (size_t i = 0; i < sources_.size(); ++i)
      if (sources_[i].size() > 1)
        plan_.merged.push_back(merged_node{plan_.dag.nodes[i].name, sources_[i]});
    if (auto g = validate_manifest(plan_.dag); !g)
      return wrap(g.error(), "group " + quoted(name_) + ": fused DAG");
    count_savings();
    return std::move(plan_);
  }

private:
  void make_members() {
    std::map<std::string, int> name_count;
    for (const auto& m : models_)
      ++name_count[m.name];
    for (const auto& m : models_) {
      fusion_member member;
      member.model = model_ref(m);
      member.label = name_count[m.name] > 1 ? m.name + "@" + std::to_string(m.version) : m.name;
      plan_.members.push_back(std::move(member));
    }
  }

  // The group input name each member input reads, explicit or positional.
  caf::error bind_inputs(const std::vector<input_binding>& bindings) {
    std::map<std::pair<size_t, size_t>, std::string> explicit_names;
    for (const auto& b : bindings) {
      auto m = std::find_if(models_.begin(), models_.end(),
                            [&](const model_manifest& x) { return names(b.model, x); });
      if (m == models_.end())
        return make_error(ec::invalid_argument, "group " + quoted(name_) +
                                                    ": binding names model " + quoted(b.model) +
                                                    ", which is not a member");
      auto in = std::find_if(m->inputs.begin(), m->inputs.end(),
                             [&](const io_spec& s) { return s.name == b.input; });
      if (in == m->inputs.end() || b.group_input.empty())
        return make_error(ec::invalid_argument,
                          "group " + quoted(name_) + ": binding of model " + quoted(b.model) +
                              " names input " + quoted(b.input) + ", which it lacks" +
                              (b.group_input.empty() ? " or an empty group input" : ""));
      explicit_names[{static_cast<size_t>(m - models_.begin()),
                      static_cast<size_t>(in - m->inputs.begin())}] = b.group_input;
    }
    auto positional = [&](size_t k) {
      for (const auto& m : models_)
        if (m.inputs.size() > k)
          return m.inputs[k].name;
      return std::string{};
    };
    for (size_t i = 0; i < models_.size(); ++i) {
      const auto& m = models_[i];
      for (size_t k = 0; k < m.inputs.size(); ++k) {
        auto e = explicit_names.find({i, k});
        auto gname = e != explicit_names.end() ? e->second : positional(k);
        auto binder = "input " + quoted(m.inputs[k].name) + " of model " + quoted(model_ref(m));
        auto slot = std::find_if(slots_.begin(), slots_.end(),
                                 [&](const group_input_slot& s) { return s.io.name == gname; });
        if (slot == slots_.end()) {
          slots_.push_back({io_spec{gname, m.inputs[k].spec, ""}, binder});
          slot = slots_.end() - 1;
        } else if (slot->io.spec != m.inputs[k].spec) {
          auto code =
              slot->io.spec.type != m.inputs[k].spec.type ? ec::dtype_mismatch : ec::shape_mismatch;
          return make_error(code, "group " + quoted(name_) + ": cannot bind " + binder + " (" +
                                      to_string(m.inputs[k].spec) + ") and " + slot->first_binder +
                                      " (" + to_string(slot->io.spec) + ") to group input " +
                                      quoted(gname) +
                                      ": inputs bound together need equal dtype and shape");
        }
        plan_.members[i].input_of.push_back(static_cast<uint32_t>(slot - slots_.begin()));
      }
    }
    return {};
  }

  caf::error merge_nodes(size_t i, const model_graph& g) {
    const auto& m = models_[i];
    auto& member = plan_.members[i];
    member.node_of.assign(m.nodes.size(), 0);
    for (auto idx : g.order) {
      const auto& node = m.nodes[idx];
      std::vector<std::string> inputs;
      for (const auto& ref : g.node_inputs[idx]) {
        if (ref.from_input) {
          inputs.push_back(slots_[member.input_of[ref.index]].io.name);
          continue;
        }
        auto text = plan_.dag.nodes[member.node_of[ref.index]].name;
        inputs.push_back(ref.element == 0 ? text : text + ":" + std::to_string(ref.element));
      }
      auto source = member.label + "/" + node.name;
      auto [it, fresh] =
          by_key_.emplace(merge_key(node, inputs), static_cast<uint32_t>(plan_.dag.nodes.size()));
      member.node_of[idx] = it->second;
      if (fresh) {
        node_spec copy = node;
        copy.name = source;
        copy.inputs = std::move(inputs);
        plan_.dag.nodes.push_back(std::move(copy));
        sources_.push_back({source});
        continue;
      }
      auto& existing = plan_.dag.nodes[it->second];
      sources_[it->second].push_back(source);
      if (!existing.output)
        existing.output = node.output;
      else if (node.output && *node.output != *existing.output)
        return make_error(existing.output->type != node.output->type ? ec::dtype_mismatch
                                                                     : ec::shape_mismatch,
                          "group " + quoted(name_) + ": node " + quoted(source) + " declares " +
                              to_string(*node.output) + " but the identical node " +
                              quoted(existing.name) + " declares " + to_string(*existing.output));
    }
    return {};
  }

  void add_outputs(const std::vector<model_graph>& graphs) {
    for (size_t i = 0; i < models_.size(); ++i) {
      auto& member = plan_.members[i];
      for (size_t o = 0; o < models_[i].outputs.size(); ++o) {
        const auto& out = models_[i].outputs[o];
        const auto& ref = graphs[i].outputs[o];
        auto source = plan_.dag.nodes[member.node_of[ref.index]].name;
        if (ref.element != 0)
          source += ":" + std::to_string(ref.element);
        member.output_of.push_back(static_cast<uint32_t>(plan_.dag.outputs.size()));
        plan_.dag.outputs.push_back(io_spec{member.label + "/" + out.name, out.spec, source});
      }
    }
  }

  void count_savings() {
    auto& s = plan_.savings;
    for (const auto& m : models_) {
      s.separate_nodes += m.nodes.size();
      s.separate_bytes += parameter_bytes(m);
      for (const auto& n : m.nodes)
        s.separate_macs += node_macs(n);
    }
    s.fused_nodes = plan_.dag.nodes.size();
    s.fused_bytes = parameter_bytes(plan_.dag);
    for (const auto& n : plan_.dag.nodes)
      s.fused_macs += node_macs(n);
  }

  std::string name_;
  std::vector<model_manifest> models_;
  std::vector<group_input_slot> slots_;
  std::unordered_map<std::string, uint32_t> by_key_;
  std::vector<std::vector<std::string>> sources_;
  fused_plan plan_;
};

} // namespace

const fusion_member* fused_plan::find(const std::string& model) const {
  for (const auto& m : members)
    if (m.model == model || m.label == model || m.model.substr(0, m.model.rfind(':')) == model)
      return &m;
  return nullptr;
}

caf::expected<std::vector<uint32_t>>
fused_plan::outputs_of(const std::vector<std::string>& models) const {
  std::vector<uint32_t> out;
  if (models.empty()) {
    for (const auto& m : members)
      out.insert(out.end(), m.output_of.begin(), m.output_of.end());
    return out;
  }
  for (const auto& name : models) {
    const auto* m = find(name);
    if (m == nullptr) {
      std::string known;
      for (const auto& x : members)
        known += (known.empty() ? "" : ", ") + x.model;
      return make_error(ec::unknown_model, "group " + quoted(this->name) + " has no member " +
                                               quoted(name) + " (members: " + known + ")");
    }
    out.insert(out.end(), m->output_of.begin(), m->output_of.end());
  }
  return out;
}

caf::expected<std::vector<uint32_t>>
fused_plan::nodes_of(const std::vector<std::string>& models) const {
  std::vector<uint32_t> out;
  for (const auto& m : members) {
    bool wanted = models.empty();
    for (const auto& name : models)
      wanted = wanted || find(name) == &m;
    if (wanted)
      out.insert(out.end(), m.node_of.begin(), m.node_of.end());
  }
  if (auto checked = outputs_of(models); !checked)
    return checked.error();
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

caf::expected<fused_plan> plan_fusion(const std::string& name,
                                      const std::vector<model_manifest>& models,
                                      const std::vector<input_binding>& bindings) {
  if (name.empty())
    return make_error(ec::invalid_argument, "a group needs a name");
  if (models.empty())
    return make_error(ec::invalid_argument, "group " + quoted(name) + " has no models");
  std::vector<model_manifest> members = models;
  std::stable_sort(members.begin(), members.end(), [](const auto& a, const auto& b) {
    return a.name != b.name ? a.name < b.name : a.version < b.version;
  });
  std::vector<model_manifest> unique;
  for (auto& m : members) {
    if (!unique.empty() && model_ref(unique.back()) == model_ref(m)) {
      if (to_json_text(unique.back()) != to_json_text(m))
        return make_error(ec::invalid_argument, "group " + quoted(name) +
                                                    ": two different manifests "
                                                    "are both " +
                                                    quoted(model_ref(m)));
      continue;
    }
    unique.push_back(std::move(m));
  }
  return planner{name, std::move(unique)}.run(bindings);
}

caf::expected<std::vector<model_manifest>>
select_models(const std::vector<std::string>& refs, const std::vector<model_manifest>& catalogue) {
  std::vector<model_manifest> out;
  for (const auto& ref : refs) {
    const model_manifest* best = nullptr;
    for (const auto& m : catalogue)
      if (names(ref, m) && (best == nullptr || (ref == m.name && m.version > best->version)))
        best = &m;
    if (best == nullptr)
      return make_error(ec::unknown_model, "no model " + quoted(ref) + " in the catalogue");
    out.push_back(*best);
  }
  return out;
}

double node_macs(const node_spec& node) {
  double elements = 0;
  for (const auto& p : node.params)
    elements += static_cast<double>(p.spec.elements());
  double positions = 1;
  if (node.output) {
    const auto& s = node.output->shape;
    if (s.size() == 4 && s[2] > 0 && s[3] > 0)
      positions = static_cast<double>(s[2] * s[3]);
    else if (s.size() == 3 && s[1] > 0)
      positions = static_cast<double>(s[1]);
  }
  return elements * positions;
}

std::string summary_of(const fused_plan& plan) {
  const auto& s = plan.savings;
  char text[512];
  std::snprintf(text, sizeof text,
                "group \"%s\": %zu models, %llu of %llu nodes merged away (%zu shared nodes), "
                "%.1f of %.1f MB parameters saved, %.0f%% of compute (MAC proxy) saved",
                plan.name.c_str(), plan.members.size(),
                static_cast<unsigned long long>(s.nodes_saved()),
                static_cast<unsigned long long>(s.separate_nodes), plan.merged.size(),
                static_cast<double>(s.bytes_saved()) / 1e6,
                static_cast<double>(s.separate_bytes) / 1e6, 100.0 * s.macs_saved_fraction());
  return text;
}

} // namespace tessera
