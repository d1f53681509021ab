#include "run_steps.hpp"

#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/fusion_subgraph.hpp"
#include "tessera/core/input_check.hpp"

namespace tessera::torch_backend {

namespace {

// Picks element `i` of a node's value: a tuple element, or the value itself.
c10::IValue element_of(const c10::IValue& v, uint32_t i, const std::string& node) {
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    if (i >= elems.size())
      throw std::runtime_error("node \"" + node + "\" returned "
                               + std::to_string(elems.size()) + " values, element "
                               + std::to_string(i) + " was requested");
    return elems[i];
  }
  if (i != 0)
    throw std::runtime_error("node \"" + node + "\" returned one value, element "
                             + std::to_string(i) + " was requested");
  return v;
}

// Bytes of the tensors a node's value holds (a tensor or a tuple of them).
uint64_t value_bytes(const c10::IValue& v) {
  if (v.isTensor())
    return v.toTensor().nbytes();
  uint64_t total = 0;
  if (v.isTuple())
    for (const auto& e : v.toTupleRef().elements())
      total += value_bytes(e);
  return total;
}

} // namespace

caf::error check_run_request(const model_manifest& m, const std::vector<tensor_buffer>& inputs,
                             const std::vector<uint32_t>& wanted) {
  for (auto o : wanted)
    if (o >= m.outputs.size())
      return make_error(ec::invalid_argument, "model \"" + m.name + "\" has no output " + std::to_string(o));
  return check_model_inputs(m, inputs);
}

caf::expected<std::vector<tensor_buffer>>
run_steps(const model_manifest& m, const model_graph& g, const std::vector<tensor_buffer>& inputs,
          const std::vector<uint32_t>& wanted, const torch::Device& device,
          const node_runner& run_node, backend::run_stats& st) {
  auto steps = plan_steps(g, wanted);
  st = {};
  uint64_t live_bytes = 0;
  std::string current = "(inputs)";
  try {
    c10::InferenceMode inference;
    std::vector<c10::IValue> in_values;
    for (const auto& buf : inputs) {
      auto t = view_of(buf);
      in_values.emplace_back(device.is_cpu() ? t : t.to(device));
    }
    std::vector<c10::IValue> values(m.nodes.size());
    for (uint32_t pos = 0; pos < g.order.size(); ++pos) {
      auto idx = g.order[pos];
      if (!steps.needed[idx])
        continue;
      current = m.nodes[idx].name;
      std::vector<c10::IValue> args;
      for (const auto& ref : g.node_inputs[idx])
        args.push_back(ref.from_input
                         ? in_values[ref.index]
                         : element_of(values[ref.index], ref.element, m.nodes[ref.index].name));
      auto value = run_node(idx, std::move(args));
      if (!value)
        return value.error();
      values[idx] = std::move(*value);
      ++st.nodes_run;
      live_bytes += value_bytes(values[idx]);
      st.peak_value_bytes = std::max(st.peak_value_bytes, live_bytes);
      // Release intermediate values as soon as their last consumer ran.
      for (const auto& ref : g.node_inputs[idx])
        if (!ref.from_input && steps.last_use[ref.index] == pos && !values[ref.index].isNone()) {
          live_bytes -= value_bytes(values[ref.index]);
          values[ref.index] = c10::IValue{};
        }
    }
    std::vector<tensor_buffer> out;
    for (auto i : wanted) {
      const auto& ref = g.outputs[i];
      current = m.nodes[ref.index].name;
      auto v = element_of(values[ref.index], ref.element, current);
      if (!v.isTensor())
        return make_error(ec::backend_error, "model \"" + m.name + "\": output \""
                                               + m.outputs[i].name + "\" is not a tensor");
      auto buf = buffer_of(v.toTensor());
      if (!buf)
        return buf.error();
      if (!m.outputs[i].spec.accepts(buf->spec))
        return make_error(buf->spec.type != m.outputs[i].spec.type ? ec::dtype_mismatch
                                                                   : ec::shape_mismatch,
                          "model \"" + m.name + "\": output \"" + m.outputs[i].name
                            + "\" is " + to_string(buf->spec) + ", manifest declares "
                            + to_string(m.outputs[i].spec));
      out.push_back(std::move(*buf));
    }
    return out;
  } catch (const std::exception& e) {
    return make_error(ec::backend_error, "model \"" + m.name + "\": node \"" + current
                                           + "\" failed: " + torch_message(e));
  }
}

} // namespace tessera::torch_backend
