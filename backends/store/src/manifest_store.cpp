#include "tessera/store/manifest_store.hpp"

#include "tessera/core/error.hpp"
#include "tessera/core/manifest_json.hpp"
#include "tessera/store/atomic_file.hpp"

#include <algorithm>
#include <filesystem>

namespace tessera::store {

namespace fs = std::filesystem;

namespace {

// Why `name` cannot name a model or group, or nothing.
std::string name_problem(const std::string& name) {
  if (name.empty() || name.size() > 128)
    return "model name must have 1 to 128 characters";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '-';
    if (!ok)
      return "model name \"" + name + "\" contains '" + std::string(1, c) +
             "' (allowed: letters, digits, . _ -)";
  }
  if (name == "." || name == "..")
    return "model name \"" + name + "\" is reserved";
  return {};
}

} // namespace

caf::error check_model_name(const std::string& name) {
  auto problem = name_problem(name);
  return problem.empty() ? caf::error{} : make_error(ec::invalid_argument, problem);
}

manifest_store::manifest_store(std::string root) : root_(std::move(root)) {
  // nop
}

caf::error manifest_store::put(const model_manifest& m) const {
  if (auto err = check_model_name(m.name))
    return err;
  auto dir = root_ + "/models/" + m.name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(ec::io_error, "cannot create " + dir + ": " + ec.message());
  auto text = to_json_text(m);
  return write_file_atomically(root_ + "/tmp", dir + "/" + std::to_string(m.version) + ".json",
                               {{text.data(), text.size()}});
}

std::vector<uint32_t> manifest_store::versions(const std::string& name) const {
  std::vector<uint32_t> out;
  if (check_model_name(name))
    return out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{root_ + "/models/" + name, ec}) {
    if (entry.path().extension() != ".json")
      continue;
    auto stem = entry.path().stem().string();
    if (!stem.empty() && std::all_of(stem.begin(), stem.end(), ::isdigit) && stem.size() < 10)
      out.push_back(static_cast<uint32_t>(std::stoul(stem)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

caf::expected<uint32_t> pick_version(const std::string& name, const std::vector<uint32_t>& stored,
                                     uint32_t version) {
  // A name no model can have is looked up as one that is not there.
  if (auto problem = name_problem(name); !problem.empty())
    return make_error(ec::unknown_model, "no model named \"" + name + "\": " + problem);
  if (stored.empty())
    return make_error(ec::unknown_model, "no model named \"" + name + "\"");
  if (version == 0)
    return stored.back();
  if (std::find(stored.begin(), stored.end(), version) == stored.end())
    return make_error(ec::unknown_model, "model \"" + name + "\" has no version "
                                           + std::to_string(version));
  return version;
}

caf::expected<model_manifest> manifest_store::get(const std::string& name, uint32_t version) const {
  auto v = pick_version(name, versions(name), version);
  if (!v)
    return v.error();
  return read(name, *v);
}

caf::expected<model_manifest> manifest_store::read(const std::string& name,
                                                   uint32_t version) const {
  std::string text;
  auto path = root_ + "/models/" + name + "/" + std::to_string(version) + ".json";
  if (auto err = read_whole_file(path, text))
    return err;
  auto m = parse_manifest(text);
  if (!m)
    return wrap(m.error(), path);
  if (m->name != name || m->version != version)
    return make_error(ec::bad_manifest, path + ": holds " + model_ref(*m)
                                          + ", not " + name + ":" + std::to_string(version));
  return m;
}

std::vector<std::string> manifest_store::names() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{root_ + "/models", ec})
    if (entry.is_directory())
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<model_manifest> manifest_store::list_latest() const {
  std::vector<model_manifest> out;
  for (const auto& n : names())
    if (auto m = get(n))
      out.push_back(std::move(*m));
  return out;
}

caf::error manifest_store::remove(const std::string& name, uint32_t version) const {
  auto path = root_ + "/models/" + name + "/" + std::to_string(version) + ".json";
  std::error_code ec;
  if (!fs::remove(path, ec))
    return make_error(ec::unknown_model, "model \"" + name + "\" has no version "
                                           + std::to_string(version));
  return {};
}

} // namespace tessera::store
