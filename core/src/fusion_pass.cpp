#include "tessera/core/fusion_pass.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <cstring>

namespace tessera {

namespace {

bool is_empty(const tensor_buffer& t) {
  return t.data == nullptr && t.bytes == 0 && t.owner == nullptr;
}

} // namespace

bool same_tensor(const tensor_buffer& a, const tensor_buffer& b) {
  if (a.spec != b.spec || a.bytes != b.bytes)
    return false;
  return a.data == b.data || a.bytes == 0 || std::memcmp(a.data, b.data, a.bytes) == 0;
}

bool shares_pass(const fused_plan& plan, const std::vector<tensor_buffer>& current,
                 const member_request& other) {
  if (other.member == nullptr || other.inputs == nullptr
      || other.inputs->size() != other.member->input_of.size())
    return false;
  bool shared = false;
  for (size_t k = 0; k < other.inputs->size(); ++k) {
    auto g = other.member->input_of[k];
    if (g >= current.size() || g >= plan.dag.inputs.size())
      return false;
    if (is_empty(current[g]))
      continue;
    if (!same_tensor(current[g], (*other.inputs)[k]))
      return false;
    shared = true;
  }
  return shared;
}

void add_to_pass(const fused_plan& plan, std::vector<tensor_buffer>& current, const member_request& request) {
  current.resize(plan.dag.inputs.size());
  for (size_t k = 0; k < request.inputs->size() && k < request.member->input_of.size(); ++k) {
    auto g = request.member->input_of[k];
    if (g < current.size() && is_empty(current[g]))
      current[g] = (*request.inputs)[k];
  }
}

caf::expected<std::vector<tensor_buffer>> group_inputs_for(const fused_plan& plan,
                                                           const std::vector<member_request>& requests) {
  std::vector<tensor_buffer> current(plan.dag.inputs.size());
  std::vector<bool> given(current.size(), false);
  int64_t batch = -1;
  for (const auto& r : requests) {
    if (r.member == nullptr || r.inputs == nullptr)
      return make_error(ec::invalid_argument, "group \"" + plan.name + "\": a request names no member");
    if (r.inputs->size() != r.member->input_of.size())
      return make_error(ec::invalid_argument, "group \"" + plan.name + "\": model \"" + r.member->model
                                                + "\" takes " + std::to_string(r.member->input_of.size())
                                                + " inputs, the request gave " + std::to_string(r.inputs->size()));
    for (size_t k = 0; k < r.inputs->size(); ++k) {
      auto g = r.member->input_of[k];
      const auto& t = (*r.inputs)[k];
      if (given[g]) {
        if (!same_tensor(current[g], t))
          return make_error(ec::invalid_argument, "group \"" + plan.name + "\": requests give group input \""
                                                    + plan.dag.inputs[g].name
                                                    + "\" different tensors, so they cannot share a pass");
        continue;
      }
      given[g] = true;
      current[g] = t;
      if (batch < 0 && !t.spec.shape.empty())
        batch = t.spec.shape.front();
    }
  }
  for (size_t g = 0; g < current.size(); ++g) {
    if (given[g])
      continue;
    std::byte* unused = nullptr;
    current[g] = tensor_buffer::allocate(with_batch(plan.dag.inputs[g].spec, batch < 0 ? 1 : batch), &unused);
  }
  return current;
}

void member_outputs_of(const fusion_member& member, const std::vector<std::string>& names,
                       const std::vector<tensor_buffer>& tensors, const std::vector<std::string>& wanted,
                       std::vector<std::string>& out_names, std::vector<tensor_buffer>& out_tensors) {
  auto prefix = member.label + "/";
  for (size_t i = 0; i < names.size() && i < tensors.size(); ++i) {
    if (names[i].compare(0, prefix.size(), prefix) != 0)
      continue;
    auto own = names[i].substr(prefix.size());
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), own) == wanted.end())
      continue;
    out_names.push_back(std::move(own));
    out_tensors.push_back(tensors[i]);
  }
}

} // namespace tessera
