#include "tessera/core/fusion_subgraph.hpp"

#include <algorithm>

namespace tessera {

subgraph_steps plan_steps(const model_graph& g, const std::vector<uint32_t>& outputs) {
  auto n = g.node_inputs.size();
  subgraph_steps s;
  s.needed.assign(n, false);
  s.last_use.assign(n, 0);
  std::vector<uint32_t> stack;
  for (auto o : outputs)
    stack.push_back(g.outputs[o].index);
  while (!stack.empty()) {
    auto i = stack.back();
    stack.pop_back();
    if (s.needed[i])
      continue;
    s.needed[i] = true;
    for (const auto& ref : g.node_inputs[i])
      if (!ref.from_input)
        stack.push_back(ref.index);
  }
  for (uint32_t pos = 0; pos < g.order.size(); ++pos) {
    auto i = g.order[pos];
    if (!s.needed[i])
      continue;
    s.last_use[i] = std::max(s.last_use[i], pos);
    for (const auto& ref : g.node_inputs[i])
      if (!ref.from_input)
        s.last_use[ref.index] = std::max(s.last_use[ref.index], pos);
  }
  for (auto o : outputs)
    s.last_use[g.outputs[o].index] = static_cast<uint32_t>(g.order.size());
  return s;
}

} // namespace tessera
