#include "tessera/store/store_catalog.hpp"

#include "tessera/core/error.hpp"
#include "tessera/core/manifest_json.hpp"
#include "tessera/store/group_store.hpp"

#include <algorithm>

namespace tessera::store {

namespace {

// Reads every stored version of one model into `c` (none: the name goes).
void read_model(store_catalog& c, const manifest_store& manifests, const std::string& name) {
  c.models.erase(name);
  auto versions = manifests.versions(name);
  if (versions.empty())
    return;
  auto& entry = c.models[name];
  for (auto v : versions)
    entry.emplace(v, manifests.read(name, v));
}

void plan_groups(store_catalog& c) {
  c.plans.clear();
  for (const auto& [name, def] : c.groups) {
    auto plan = plan_group(c, def);
    if (plan)
      c.plans.emplace(name, std::make_shared<const fused_plan>(std::move(*plan)));
    else
      c.plans.emplace(name, plan.error());
  }
}

void read_groups(store_catalog& c, const block_store& store) {
  c.groups.clear();
  for (auto& def : group_store{store.root()}.list())
    c.groups.emplace(def.name, std::move(def));
  plan_groups(c);
}

// A manifest or its error, as text that differs when either does.
std::string text_of(const caf::expected<model_manifest>& m) {
  return m ? to_json_text(*m) : "error: " + describe(m.error());
}

} // namespace

caf::expected<model_manifest> store_catalog::get(const std::string& name, uint32_t version) const {
  auto v = pick_version(name, versions(name), version);
  if (!v)
    return v.error();
  return models.at(name).at(*v);
}

std::vector<uint32_t> store_catalog::versions(const std::string& name) const {
  std::vector<uint32_t> out;
  if (auto i = models.find(name); i != models.end())
    for (const auto& [v, m] : i->second)
      out.push_back(v);
  return out;
}

std::vector<model_manifest> store_catalog::list_latest() const {
  std::vector<model_manifest> out;
  for (const auto& [name, versions] : models)
    if (!versions.empty() && versions.rbegin()->second)
      out.push_back(*versions.rbegin()->second);
  return out;
}

const group_definition* store_catalog::group(const std::string& name) const {
  auto i = groups.find(name);
  return i == groups.end() ? nullptr : &i->second;
}

const group_definition* store_catalog::group_containing(const std::string& ref) const {
  for (const auto& [name, def] : groups)
    if (std::find(def.models.begin(), def.models.end(), ref) != def.models.end())
      return &def;
  return nullptr;
}

std::vector<group_definition> store_catalog::group_list() const {
  std::vector<group_definition> out;
  for (const auto& [name, def] : groups)
    out.push_back(def);
  return out;
}

caf::expected<std::shared_ptr<const fused_plan>>
store_catalog::plan(const std::string& name) const {
  auto i = plans.find(name);
  if (i == plans.end())
    return make_error(ec::unknown_model,
                      "no group named \"" + name + "\" (see `tessera fuse --list`)");
  return i->second;
}

bool store_catalog::same_as(const store_catalog& other) const {
  if (models.size() != other.models.size() || groups.size() != other.groups.size())
    return false;
  for (auto a = models.begin(), b = other.models.begin(); a != models.end(); ++a, ++b) {
    if (a->first != b->first || a->second.size() != b->second.size())
      return false;
    for (auto x = a->second.begin(), y = b->second.begin(); x != a->second.end(); ++x, ++y)
      if (x->first != y->first || text_of(x->second) != text_of(y->second))
        return false;
  }
  for (auto a = groups.begin(), b = other.groups.begin(); a != groups.end(); ++a, ++b)
    if (a->first != b->first || to_json_text(a->second) != to_json_text(b->second))
      return false;
  return true;
}

caf::expected<fused_plan> plan_group(const store_catalog& c, const group_definition& g) {
  return plan_group(
      [&c](const std::string& name, uint32_t version) { return c.get(name, version); }, g);
}

std::shared_ptr<store_catalog> read_catalog(const block_store& store) {
  auto c = std::make_shared<store_catalog>();
  const auto& manifests = store.manifests();
  for (const auto& name : manifests.names())
    read_model(*c, manifests, name);
  read_groups(*c, store);
  return c;
}

std::shared_ptr<store_catalog> reread_name(const store_catalog& c, const block_store& store,
                                           const std::string& name) {
  auto out = std::make_shared<store_catalog>(c);
  read_model(*out, store.manifests(), name);
  out->groups.erase(name);
  if (auto def = group_store{store.root()}.get(name))
    out->groups.emplace(name, std::move(*def));
  plan_groups(*out);
  return out;
}

std::shared_ptr<store_catalog> reread_groups(const store_catalog& c, const block_store& store) {
  auto out = std::make_shared<store_catalog>(c);
  read_groups(*out, store);
  return out;
}

} // namespace tessera::store
