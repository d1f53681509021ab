#include "tessera/core/manifest_json.hpp"

#include "tessera/core/error.hpp"

#include <nlohmann/json.hpp>

namespace tessera {

namespace {

using json = nlohmann::ordered_json;

// Carries the model name (once known) and the field path into every error.
class field_reader {
public:
  explicit field_reader(std::string model) : model_(std::move(model)) {
    // nop
  }

  caf::error fail(const std::string& path, const std::string& what) const {
    auto who = model_.empty() ? std::string{"manifest"}
                              : "model \"" + model_ + "\"";
    return make_error(ec::bad_manifest, who + ": " + path + ": " + what);
  }

  caf::expected<const json*> field(const json& obj, const std::string& path,
                                   const char* key, bool required = true) const {
    auto i = obj.find(key);
    if (i == obj.end()) {
      if (required)
        return fail(path + "." + key, "missing");
      return static_cast<const json*>(nullptr);
    }
    return &*i;
  }

  caf::expected<std::string> text(const json& obj, const std::string& path,
                                  const char* key, bool required = true) const {
    auto f = field(obj, path, key, required);
    if (!f)
      return f.error();
    if (*f == nullptr)
      return std::string{};
    if (!(*f)->is_string())
      return fail(path + "." + key, "must be a string");
    return (*f)->get<std::string>();
  }

  caf::expected<tensor_spec> spec(const json& obj, const std::string& path) const {
    auto type_name = text(obj, path, "dtype");
    if (!type_name)
      return type_name.error();
    auto type = parse_dtype(*type_name);
    if (!type)
      return fail(path + ".dtype", describe(type.error()));
    auto shape = field(obj, path, "shape");
    if (!shape)
      return shape.error();
    if (!(*shape)->is_array())
      return fail(path + ".shape", "must be an array of integers");
    tensor_spec out{*type, {}};
    for (const auto& d : **shape) {
      if (!d.is_number_integer())
        return fail(path + ".shape", "must be an array of integers");
      out.shape.push_back(d.get<int64_t>());
    }
    return out;
  }

  caf::expected<content_id> id(const json& obj, const std::string& path,
                               const char* key) const {
    auto hex = text(obj, path, key);
    if (!hex)
      return hex.error();
    auto parsed = parse_content_id(*hex);
    if (!parsed)
      return fail(path + "." + key, describe(parsed.error()));
    return *parsed;
  }

  caf::expected<std::vector<io_spec>> io_list(const json& root, const char* key,
                                              bool with_source) const {
    auto arr = field(root, "", key);
    if (!arr)
      return arr.error();
    if (!(*arr)->is_array())
      return fail(key, "must be an array");
    std::vector<io_spec> out;
    for (size_t i = 0; i < (*arr)->size(); ++i) {
      const auto& item = (**arr)[i];
      auto path = std::string{key} + "[" + std::to_string(i) + "]";
      if (!item.is_object())
        return fail(path, "must be an object");
      io_spec io;
      auto name = text(item, path, "name");
      if (!name)
        return name.error();
      io.name = *name;
      auto s = spec(item, path);
      if (!s)
        return s.error();
      io.spec = *s;
      if (with_source) {
        auto src = text(item, path, "from");
        if (!src)
          return src.error();
        io.source = *src;
      }
      out.push_back(std::move(io));
    }
    return out;
  }

  caf::expected<node_spec> node(const json& item, const std::string& path) const {
    if (!item.is_object())
      return fail(path, "must be an object");
    node_spec n;
    auto name = text(item, path, "name");
    if (!name)
      return name.error();
    n.name = *name;
    auto sk = id(item, path, "skeleton");
    if (!sk)
      return sk.error();
    n.skeleton = *sk;
    auto params = field(item, path, "params", false);
    if (!params)
      return params.error();
    if (*params != nullptr) {
      if (!(*params)->is_array())
        return fail(path + ".params", "must be an array");
      for (size_t j = 0; j < (*params)->size(); ++j) {
        const auto& p = (**params)[j];
        auto ppath = path + ".params[" + std::to_string(j) + "]";
        if (!p.is_object())
          return fail(ppath, "must be an object");
        param_binding b;
        auto pname = text(p, ppath, "name");
        if (!pname)
          return pname.error();
        b.name = *pname;
        auto blob = id(p, ppath, "blob");
        if (!blob)
          return blob.error();
        b.blob = *blob;
        auto s = spec(p, ppath);
        if (!s)
          return s.error();
        b.spec = *s;
        n.params.push_back(std::move(b));
      }
    }
    auto inputs = field(item, path, "inputs");
    if (!inputs)
      return inputs.error();
    if (!(*inputs)->is_array())
      return fail(path + ".inputs", "must be an array of names");
    for (const auto& in : **inputs) {
      if (!in.is_string())
        return fail(path + ".inputs", "must be an array of names");
      n.inputs.push_back(in.get<std::string>());
    }
    auto out = field(item, path, "output", false);
    if (!out)
      return out.error();
    if (*out != nullptr) {
      auto s = spec(**out, path + ".output");
      if (!s)
        return s.error();
      n.output = *s;
    }
    return n;
  }

private:
  std::string model_;
};

// Writes "name" first so that manifests read naturally, then the type.
json named_spec_json(const std::string& name, const tensor_spec& s) {
  json j;
  j["name"] = name;
  j["dtype"] = to_string(s.type);
  j["shape"] = s.shape;
  return j;
}

} // namespace

caf::expected<model_manifest> parse_manifest(std::string_view json_text) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::parse_error& e) {
    return make_error(ec::bad_manifest,
                      std::string{"manifest is not valid JSON: "} + e.what());
  }
  if (!root.is_object())
    return make_error(ec::bad_manifest, "manifest must be a JSON object");
  field_reader anon{""};
  auto name = anon.text(root, "", "name");
  if (!name)
    return name.error();
  if (name->empty())
    return anon.fail("name", "must not be empty");
  field_reader r{*name};
  auto format = r.text(root, "", "format");
  if (!format)
    return format.error();
  if (*format != manifest_format)
    return r.fail("format", "is \"" + *format + "\", expected \""
                              + manifest_format + "\"");
  model_manifest m;
  m.name = *name;
  auto version = r.field(root, "", "version");
  if (!version)
    return version.error();
  if (!(*version)->is_number_unsigned() || (*version)->get<uint64_t>() == 0
      || (*version)->get<uint64_t>() > UINT32_MAX)
    return r.fail("version", "must be a positive integer");
  m.version = (*version)->get<uint32_t>();
  auto family = r.text(root, "", "family", false);
  auto description = r.text(root, "", "description", false);
  if (!family)
    return family.error();
  if (!description)
    return description.error();
  m.family = *family;
  m.description = *description;
  auto inputs = r.io_list(root, "inputs", false);
  if (!inputs)
    return inputs.error();
  m.inputs = std::move(*inputs);
  auto outputs = r.io_list(root, "outputs", true);
  if (!outputs)
    return outputs.error();
  m.outputs = std::move(*outputs);
  auto nodes = r.field(root, "", "nodes");
  if (!nodes)
    return nodes.error();
  if (!(*nodes)->is_array())
    return r.fail("nodes", "must be an array");
  for (size_t i = 0; i < (*nodes)->size(); ++i) {
    auto n = r.node((**nodes)[i], "nodes[" + std::to_string(i) + "]");
    if (!n)
      return n.error();
    m.nodes.push_back(std::move(*n));
  }
  return m;
}

std::string to_json_text(const model_manifest& m) {
  json root;
  root["format"] = manifest_format;
  root["name"] = m.name;
  root["version"] = m.version;
  if (!m.family.empty())
    root["family"] = m.family;
  if (!m.description.empty())
    root["description"] = m.description;
  root["inputs"] = json::array();
  for (const auto& in : m.inputs) {
    root["inputs"].push_back(named_spec_json(in.name, in.spec));
  }
  root["outputs"] = json::array();
  for (const auto& out : m.outputs) {
    auto j = named_spec_json(out.name, out.spec);
    j["from"] = out.source;
    root["outputs"].push_back(std::move(j));
  }
  root["nodes"] = json::array();
  for (const auto& n : m.nodes) {
    json j;
    j["name"] = n.name;
    j["skeleton"] = n.skeleton.to_hex();
    j["inputs"] = n.inputs;
    if (n.output) {
      j["output"]["dtype"] = to_string(n.output->type);
      j["output"]["shape"] = n.output->shape;
    }
    j["params"] = json::array();
    for (const auto& p : n.params) {
      auto pj = named_spec_json(p.name, p.spec);
      pj["blob"] = p.blob.to_hex();
      j["params"].push_back(std::move(pj));
    }
    root["nodes"].push_back(std::move(j));
  }
  return root.dump(2) + "\n";
}

} // namespace tessera
