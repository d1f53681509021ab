#include "tessera/core/group_definition.hpp"

#include "tessera/core/error.hpp"

#include <nlohmann/json.hpp>

namespace tessera {

namespace {

using json = nlohmann::ordered_json;

caf::error bad(const std::string& path, const std::string& what) {
  return make_error(ec::bad_config, "group definition: " + path + ": " + what);
}

// The string at `key` of `obj`, or an error naming `path.key`.
caf::expected<std::string> text_at(const json& obj, const std::string& path, const char* key) {
  auto i = obj.find(key);
  if (i == obj.end() || !i->is_string() || i->get<std::string>().empty())
    return bad(path + key, "must be a non-empty string");
  return i->get<std::string>();
}

} // namespace

caf::expected<group_definition> parse_group_definition(std::string_view json_text) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::parse_error& e) {
    return bad("(text)", std::string{"not valid JSON: "} + e.what());
  }
  if (!root.is_object())
    return bad("(root)", "must be a JSON object");
  auto format = text_at(root, "", "format");
  if (!format)
    return format.error();
  if (*format != group_format)
    return bad("format", "is \"" + *format + "\", expected \"" + group_format + "\"");
  group_definition g;
  auto name = text_at(root, "", "name");
  if (!name)
    return name.error();
  g.name = *name;
  auto models = root.find("models");
  if (models == root.end() || !models->is_array() || models->empty())
    return bad("models", "must be a non-empty array of model references");
  for (size_t i = 0; i < models->size(); ++i) {
    const auto& m = (*models)[i];
    if (!m.is_string() || m.get<std::string>().empty())
      return bad("models[" + std::to_string(i) + "]", "must be a non-empty string");
    g.models.push_back(m.get<std::string>());
  }
  if (auto b = root.find("bindings"); b != root.end()) {
    if (!b->is_array())
      return bad("bindings", "must be an array");
    for (size_t i = 0; i < b->size(); ++i) {
      auto path = "bindings[" + std::to_string(i) + "].";
      if (!(*b)[i].is_object())
        return bad(path, "must be an object");
      input_binding ib;
      for (auto [key, out] : {std::pair{"model", &ib.model}, std::pair{"input", &ib.input},
                              std::pair{"group_input", &ib.group_input}}) {
        auto v = text_at((*b)[i], path, key);
        if (!v)
          return v.error();
        *out = *v;
      }
      g.bindings.push_back(std::move(ib));
    }
  }
  return g;
}

std::string to_json_text(const group_definition& g) {
  json root;
  root["format"] = group_format;
  root["name"] = g.name;
  root["models"] = g.models;
  if (!g.bindings.empty()) {
    root["bindings"] = json::array();
    for (const auto& b : g.bindings)
      root["bindings"].push_back(
          {{"model", b.model}, {"input", b.input}, {"group_input", b.group_input}});
  }
  return root.dump(2) + "\n";
}

} // namespace tessera
