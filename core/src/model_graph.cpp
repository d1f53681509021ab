#include "tessera/core/model_graph.hpp"

#include "tessera/core/error.hpp"

#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace tessera {

namespace {

caf::error bad(const model_manifest& m, ec code, const std::string& path,
               const std::string& what) {
  return make_error(code, "model \"" + m.name + "\": " + path + ": " + what);
}

caf::error check_io_spec(const model_manifest& m, const std::string& path,
                         const tensor_spec& spec) {
  if (spec.shape.empty() || spec.shape[0] != dynamic_dim)
    return bad(m, ec::bad_manifest, path + ".shape",
               "first dimension must be the dynamic batch dimension (-1), got "
                 + shape_to_string(spec.shape));
  for (size_t i = 1; i < spec.shape.size(); ++i)
    if (spec.shape[i] == 0 || spec.shape[i] < dynamic_dim)
      return bad(m, ec::bad_manifest, path + ".shape",
                 "dimension " + std::to_string(i) + " must be positive or -1");
  return {};
}

// Compares a declared node output with what a consumer declares it to be.
caf::error check_same_type(const model_manifest& m, const std::string& path,
                           const tensor_spec& declared, const tensor_spec& produced,
                           const std::string& producer) {
  if (declared.type != produced.type)
    return bad(m, ec::dtype_mismatch, path,
               std::string{"declared "} + to_string(declared.type) + " but node \""
                 + producer + "\" produces " + to_string(produced.type));
  if (declared.shape != produced.shape)
    return bad(m, ec::shape_mismatch, path,
               "declared " + shape_to_string(declared.shape) + " but node \""
                 + producer + "\" produces " + shape_to_string(produced.shape));
  return {};
}

} // namespace

bool split_value_name(const std::string& text, std::string& name,
                      uint32_t& element) {
  auto colon = text.rfind(':');
  element = 0;
  if (colon == std::string::npos) {
    name = text;
    return !name.empty();
  }
  name = text.substr(0, colon);
  auto digits = text.substr(colon + 1);
  if (name.empty() || digits.empty() || digits.size() > 4)
    return false;
  for (char c : digits)
    if (c < '0' || c > '9')
      return false;
  element = static_cast<uint32_t>(std::stoul(digits));
  return true;
}

caf::expected<model_graph> validate_manifest(const model_manifest& m) {
  if (m.name.empty())
    return make_error(ec::bad_manifest, "manifest: name: must not be empty");
  if (m.inputs.empty())
    return bad(m, ec::bad_manifest, "inputs", "a model needs at least one input");
  if (m.outputs.empty())
    return bad(m, ec::bad_manifest, "outputs", "a model needs at least one output");
  if (m.nodes.empty())
    return bad(m, ec::bad_manifest, "nodes", "a model needs at least one node");
  std::unordered_map<std::string, uint32_t> input_index;
  for (uint32_t i = 0; i < m.inputs.size(); ++i) {
    auto path = "inputs[" + std::to_string(i) + "]";
    if (m.inputs[i].name.empty())
      return bad(m, ec::bad_manifest, path + ".name", "must not be empty");
    if (!input_index.emplace(m.inputs[i].name, i).second)
      return bad(m, ec::bad_manifest, path + ".name",
                 "duplicate input \"" + m.inputs[i].name + "\"");
    if (auto err = check_io_spec(m, path, m.inputs[i].spec))
      return err;
  }
  std::unordered_map<std::string, uint32_t> node_index;
  for (uint32_t i = 0; i < m.nodes.size(); ++i) {
    const auto& n = m.nodes[i];
    auto path = "nodes[" + std::to_string(i) + "]";
    if (n.name.empty() || n.name.find(':') != std::string::npos)
      return bad(m, ec::bad_manifest, path + ".name",
                 "must be non-empty and contain no ':'");
    if (input_index.count(n.name) > 0)
      return bad(m, ec::bad_manifest, path + ".name",
                 "node \"" + n.name + "\" has the name of a model input");
    if (!node_index.emplace(n.name, i).second)
      return bad(m, ec::bad_manifest, path + ".name",
                 "duplicate node \"" + n.name + "\"");
    std::unordered_set<std::string> param_names;
    for (size_t j = 0; j < n.params.size(); ++j) {
      const auto& p = n.params[j];
      auto ppath = path + ".params[" + std::to_string(j) + "]";
      if (p.name.empty() || !param_names.insert(p.name).second)
        return bad(m, ec::bad_manifest, ppath + ".name",
                   "parameter names must be non-empty and unique");
      if (!p.spec.concrete())
        return bad(m, ec::bad_manifest, ppath + ".shape",
                   "parameters have no dynamic dimensions");
    }
  }
  model_graph g;
  g.node_inputs.resize(m.nodes.size());
  auto resolve = [&](const std::string& text, const std::string& path,
                     value_ref& out) -> caf::error {
    std::string name;
    uint32_t element = 0;
    if (!split_value_name(text, name, element))
      return bad(m, ec::bad_manifest, path, "malformed reference \"" + text + "\"");
    if (auto i = input_index.find(name); i != input_index.end()) {
      if (element != 0)
        return bad(m, ec::bad_manifest, path,
                   "model input \"" + name + "\" has no element " + std::to_string(element));
      out = value_ref{true, i->second, 0};
      return {};
    }
    if (auto i = node_index.find(name); i != node_index.end()) {
      out = value_ref{false, i->second, element};
      return {};
    }
    return bad(m, ec::missing_input, path,
               "\"" + text + "\" is neither a model input nor a node");
  };
  for (uint32_t i = 0; i < m.nodes.size(); ++i) {
    const auto& n = m.nodes[i];
    if (n.inputs.empty())
      return bad(m, ec::bad_manifest, "nodes[" + std::to_string(i) + "].inputs",
                 "a node needs at least one input");
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      value_ref ref;
      auto path = "nodes[" + std::to_string(i) + "].inputs[" + std::to_string(j) + "]";
      if (auto err = resolve(n.inputs[j], path, ref))
        return err;
      if (!ref.from_input && ref.index == i)
        return bad(m, ec::bad_manifest, path,
                   "node \"" + n.name + "\" consumes itself (cycle)");
      g.node_inputs[i].push_back(ref);
    }
  }
  std::unordered_set<std::string> output_names;
  for (uint32_t i = 0; i < m.outputs.size(); ++i) {
    const auto& out = m.outputs[i];
    auto path = "outputs[" + std::to_string(i) + "]";
    if (out.name.empty() || !output_names.insert(out.name).second)
      return bad(m, ec::bad_manifest, path + ".name",
                 "output names must be non-empty and unique");
    if (auto err = check_io_spec(m, path, out.spec))
      return err;
    value_ref ref;
    if (auto err = resolve(out.source, path + ".from", ref))
      return err;
    if (ref.from_input)
      return bad(m, ec::bad_manifest, path + ".from",
                 "an output must come from a node, not straight from an input");
    const auto& producer = m.nodes[ref.index];
    if (producer.output && ref.element == 0)
      if (auto err = check_same_type(m, path, out.spec, *producer.output, producer.name))
        return err;
    g.outputs.push_back(ref);
  }
  // Kahn's algorithm, taking the lowest ready index first so the order is stable.
  std::vector<uint32_t> pending(m.nodes.size(), 0);
  std::vector<std::vector<uint32_t>> consumers(m.nodes.size());
  for (uint32_t i = 0; i < m.nodes.size(); ++i)
    for (const auto& ref : g.node_inputs[i])
      if (!ref.from_input) {
        ++pending[i];
        consumers[ref.index].push_back(i);
      }
  std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<>> ready;
  for (uint32_t i = 0; i < m.nodes.size(); ++i)
    if (pending[i] == 0)
      ready.push(i);
  while (!ready.empty()) {
    auto i = ready.top();
    ready.pop();
    g.order.push_back(i);
    for (auto c : consumers[i])
      if (--pending[c] == 0)
        ready.push(c);
  }
  if (g.order.size() != m.nodes.size()) {
    for (uint32_t i = 0; i < m.nodes.size(); ++i)
      if (pending[i] > 0)
        return bad(m, ec::bad_manifest, "nodes[" + std::to_string(i) + "]",
                   "node \"" + m.nodes[i].name + "\" is part of a cycle");
  }
  std::vector<uint32_t> position(m.nodes.size());
  for (uint32_t p = 0; p < g.order.size(); ++p)
    position[g.order[p]] = p;
  g.last_use.assign(m.nodes.size(), 0);
  for (uint32_t i = 0; i < m.nodes.size(); ++i)
    g.last_use[i] = position[i];
  for (uint32_t i = 0; i < m.nodes.size(); ++i)
    for (const auto& ref : g.node_inputs[i])
      if (!ref.from_input)
        g.last_use[ref.index] = std::max(g.last_use[ref.index], position[i]);
  auto end = static_cast<uint32_t>(g.order.size());
  for (const auto& ref : g.outputs)
    g.last_use[ref.index] = end;
  return g;
}

} // namespace tessera
