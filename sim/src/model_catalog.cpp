#include "tessera/sim/model_catalog.hpp"

#include "tessera/core/error.hpp"
#include "tessera/sim/sim_device.hpp"

#include <algorithm>

namespace tessera::sim {

namespace {

// Distinct, deterministic ids for synthetic blocks (never a real hash).
content_id synthetic_id(uint64_t family, uint64_t owner, uint64_t block) {
  return content_id{0x5157000000000000ULL | family, (owner << 20) | block};
}

} // namespace

void set_exec_ms(schedule_model& m, double total_ms) {
  double scale = total_ms / std::max(1.0e-9, model_exec_ms(m));
  for (auto& b : m.blocks)
    b.exec_ms *= scale;
}

std::vector<schedule_model> synthetic_models(const model_spec& spec) {
  const auto& s = spec.synthetic;
  std::vector<schedule_model> out;
  auto bytes_of = [](double mb) { return static_cast<uint64_t>(mb * 1.0e6); };
  for (uint32_t f = 0; f < s.families; ++f) {
    for (uint32_t v = 0; v < s.variants; ++v) {
      schedule_model m;
      m.name = "f" + std::to_string(f) + "v" + std::to_string(v);
      // Variant v's trunk belongs to variant 0 when shared, else to itself.
      uint64_t trunk_owner = s.shared_trunk ? 0 : v + 1;
      for (uint32_t b = 0; b < s.trunk_blocks; ++b) {
        schedule_block block;
        block.id = synthetic_id(f, trunk_owner, b);
        block.bytes = bytes_of(s.trunk_mb / s.trunk_blocks);
        block.exec_ms = spec.exec_ms_per_mb * s.trunk_mb / s.trunk_blocks;
        m.blocks.push_back(block);
      }
      schedule_block head;
      head.id = synthetic_id(f, 1000 + v, 0);
      head.bytes = bytes_of(s.head_mb);
      head.exec_ms = spec.exec_ms_per_mb * s.head_mb;
      m.blocks.push_back(head);
      if (auto t = spec.exec_ms.find(m.name); t != spec.exec_ms.end())
        set_exec_ms(m, t->second);
      out.push_back(std::move(m));
    }
  }
  return out;
}

std::vector<schedule_model> family_units(const std::vector<schedule_model>& models,
                                         std::map<std::string, std::string>& unit_of) {
  std::vector<schedule_model> units;
  for (const auto& m : models) {
    auto family = m.name.substr(0, m.name.find('v'));
    unit_of[m.name] = family;
    auto u = std::find_if(units.begin(), units.end(), [&](const auto& x) { return x.name == family; });
    if (u == units.end()) {
      units.push_back(schedule_model{family, {}});
      u = units.end() - 1;
    }
    for (const auto& b : m.blocks)
      if (std::none_of(u->blocks.begin(), u->blocks.end(), [&](const auto& x) { return x.id == b.id; }))
        u->blocks.push_back(b);
  }
  return units;
}

model_manifest manifest_of(const schedule_model& m) {
  model_manifest out;
  out.name = m.name;
  out.family = "synthetic";
  tensor_spec io{dtype::float32, {-1, 4}};
  out.inputs.push_back({"x", io, ""});
  std::string previous = "x";
  for (size_t i = 0; i < m.blocks.size(); ++i) {
    tessera::node_spec n;
    n.name = "b" + std::to_string(i);
    n.skeleton = content_id{0x5157000000000000ULL, 0};
    n.params.push_back({"w", m.blocks[i].id, tensor_spec{dtype::uint8, {static_cast<int64_t>(m.blocks[i].bytes)}}});
    n.inputs.push_back(previous);
    n.output = io;
    previous = n.name;
    out.nodes.push_back(std::move(n));
  }
  out.outputs.push_back({"y", io, previous});
  return out;
}

caf::expected<std::vector<schedule_model>> zoo_models(const model_spec& spec,
                                                      const std::vector<model_manifest>& manifests) {
  std::vector<schedule_model> out;
  auto add = [&](const model_manifest& m) {
    uint64_t bytes = 0;
    for (const auto& n : m.nodes)
      for (const auto& p : n.params)
        bytes += p.spec.bytes();
    auto t = spec.exec_ms.find(m.name);
    double exec = t != spec.exec_ms.end() ? t->second : spec.exec_ms_per_mb * static_cast<double>(bytes) / 1.0e6;
    out.push_back(schedule_model_of(m, exec));
  };
  if (spec.zoo_names.empty()) {
    for (const auto& m : manifests)
      add(m);
  } else {
    for (const auto& name : spec.zoo_names) {
      auto m = std::find_if(manifests.begin(), manifests.end(), [&](const auto& x) { return x.name == name; });
      if (m == manifests.end())
        return make_error(ec::unknown_model, "scenario field models.names: the store has no model \"" + name
                                               + "\" (run `tessera zoo` first)");
      add(*m);
    }
  }
  if (out.empty())
    return make_error(ec::unknown_model, "scenario field models.names: the store holds no models");
  return out;
}

} // namespace tessera::sim
