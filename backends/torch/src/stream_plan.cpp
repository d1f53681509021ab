#include "stream_plan.hpp"

#include "tessera/core/bytes_text.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/fusion_subgraph.hpp"

#include <cstdio>
#include <unordered_map>
#include <unordered_set>

namespace tessera::torch_backend {

stream_plan plan_stream(const model_manifest& m, const model_graph& g,
                        const std::vector<uint32_t>& wanted) {
  auto needed = plan_steps(g, wanted).needed;
  stream_plan plan;
  std::unordered_map<content_id, uint32_t> last_step; // blob -> last step binding it
  for (auto idx : g.order) {
    if (!needed[idx])
      continue;
    const auto& node = m.nodes[idx];
    stream_step step;
    step.node = idx;
    step.name = node.name;
    std::unordered_set<content_id> seen;
    for (const auto& p : node.params)
      if (seen.insert(p.blob).second) {
        step.blobs.push_back({p.blob, p.spec.bytes()});
        step.bytes += p.spec.bytes();
      }
    auto pos = static_cast<uint32_t>(plan.steps.size());
    for (const auto& b : step.blobs) {
      if (last_step.count(b.id) == 0)
        plan.model_bytes += b.bytes;
      last_step[b.id] = pos;
    }
    if (step.bytes > plan.largest_bytes) {
      plan.largest_bytes = step.bytes;
      plan.largest_step = pos;
    }
    plan.steps.push_back(std::move(step));
  }
  for (uint32_t pos = 0; pos < plan.steps.size(); ++pos) {
    auto& step = plan.steps[pos];
    step.release_after = pos;
    for (const auto& b : step.blobs)
      step.release_after = std::max(step.release_after, last_step.at(b.id));
  }
  return plan;
}

caf::error check_stream_fits(const stream_plan& plan, const std::string& model,
                             uint64_t budget_bytes, const std::string& budget_name) {
  if (plan.steps.empty() || plan.largest_bytes <= budget_bytes)
    return {};
  const auto& step = plan.steps[plan.largest_step];
  return make_error(ec::out_of_memory, "model \"" + model + "\" cannot stream: block \"" +
                                           step.name + "\" needs " + std::to_string(step.bytes) +
                                           " bytes (" + format_mib(step.bytes, 2) +
                                           ") at once, more than the " + budget_name + " of " +
                                           std::to_string(budget_bytes) + " bytes (" +
                                           format_mib(budget_bytes, 2) + ")");
}

} // namespace tessera::torch_backend
