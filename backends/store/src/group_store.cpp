#include "tessera/store/group_store.hpp"

#include "tessera/core/error.hpp"
#include "tessera/store/atomic_file.hpp"
#include "tessera/store/manifest_store.hpp"

#include <algorithm>
#include <filesystem>

namespace tessera::store {

namespace fs = std::filesystem;

group_store::group_store(std::string root) : root_(std::move(root)) {
  // nop
}

std::string group_store::path_of(const std::string& name) const {
  return root_ + "/groups/" + name + ".json";
}

caf::error group_store::put(const group_definition& g) const {
  if (auto err = check_model_name(g.name))
    return wrap(err, "group");
  std::error_code ec;
  fs::create_directories(root_ + "/groups", ec);
  if (ec)
    return make_error(ec::io_error, "cannot create " + root_ + "/groups: " + ec.message());
  auto text = to_json_text(g);
  return write_file_atomically(root_ + "/tmp", path_of(g.name), {{text.data(), text.size()}});
}

caf::error group_store::define(const group_definition& g) const {
  if (auto err = check_definable(g))
    return err;
  std::error_code ec;
  if (fs::exists(path_of(g.name), ec))
    return {}; // the same definition, stored
  return put(g);
}

caf::error group_store::check_definable(const group_definition& g) const {
  if (!manifest_store{root_}.versions(g.name).empty())
    return make_error(ec::already_exists, "\"" + g.name +
                                              "\" is a model's name; a group needs a name of "
                                              "its own, or requests could not say which they mean");
  std::error_code ec;
  if (fs::exists(path_of(g.name), ec)) {
    auto held = get(g.name);
    if (held && to_json_text(*held) == to_json_text(g))
      return {};
    std::string members;
    for (const auto& m : held ? held->models : std::vector<std::string>{})
      members += (members.empty() ? "" : ", ") + m;
    return make_error(ec::already_exists, "group \"" + g.name + "\" exists" +
                                              (held ? " with members " + members : std::string{}) +
                                              "; remove it first (tessera fuse --remove " + g.name +
                                              ") or choose another name");
  }
  return {};
}

caf::expected<group_definition> group_store::get(const std::string& name) const {
  std::error_code ec;
  if (check_model_name(name) || !fs::is_regular_file(path_of(name), ec))
    return make_error(ec::unknown_model,
                      "no group named \"" + name + "\" (see `tessera fuse --list`)");
  std::string text;
  if (auto err = read_whole_file(path_of(name), text))
    return err;
  auto g = parse_group_definition(text);
  if (!g)
    return wrap(g.error(), path_of(name));
  if (g->name != name)
    return make_error(ec::bad_config, path_of(name) + ": holds group \"" + g->name + "\"");
  return g;
}

std::vector<group_definition> group_store::list() const {
  std::vector<group_definition> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{root_ + "/groups", ec})
    if (entry.path().extension() == ".json")
      if (auto g = get(entry.path().stem().string()))
        out.push_back(std::move(*g));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

caf::error group_store::remove(const std::string& name) const {
  std::error_code ec;
  if (check_model_name(name) || !fs::remove(path_of(name), ec))
    return make_error(ec::unknown_model, "no group named \"" + name + "\"");
  return {};
}

caf::expected<fused_plan> plan_group(const manifest_lookup& find, const group_definition& g) {
  std::vector<model_manifest> members;
  for (const auto& ref : g.models) {
    auto colon = ref.rfind(':');
    uint32_t version = 0;
    auto name = ref;
    if (colon != std::string::npos) {
      name = ref.substr(0, colon);
      try {
        version = static_cast<uint32_t>(std::stoul(ref.substr(colon + 1)));
      } catch (const std::exception&) {
        return make_error(ec::invalid_argument,
                          "group \"" + g.name + "\": bad model reference \"" + ref + "\"");
      }
    }
    auto m = find(name, version);
    if (!m)
      return wrap(m.error(), "group \"" + g.name + "\"");
    members.push_back(std::move(*m));
  }
  return plan_fusion(g.name, members, g.bindings);
}

caf::expected<fused_plan> plan_group(const block_store& store, const group_definition& g) {
  return plan_group([&](const std::string& name,
                        uint32_t version) { return store.manifests().get(name, version); },
                    g);
}

} // namespace tessera::store
