#include "tessera/store/skeleton_store.hpp"

#include "tessera/core/error.hpp"
#include "tessera/store/atomic_file.hpp"

#include <filesystem>

namespace tessera::store {

namespace fs = std::filesystem;

const char* to_string(skeleton_kind kind) {
  return kind == skeleton_kind::script ? "script" : "module";
}

skeleton_store::skeleton_store(std::string root) : root_(std::move(root)) {
  // nop
}

std::string skeleton_store::path_of(const content_id& id, skeleton_kind kind) const {
  return root_ + "/skeletons/" + id.to_hex() + "." + to_string(kind);
}

std::string skeleton_store::graph_path_of(const content_id& id) const {
  return root_ + "/skeletons/" + id.to_hex() + ".graph";
}

namespace {

// A graph file's first line: "tessera-graph 1 <runtime> <id of the text>".
constexpr std::string_view graph_magic = "tessera-graph 1 ";

content_id graph_text_id(std::string_view runtime, std::string_view graph) {
  return skeleton_id_of(runtime, graph);
}

} // namespace

caf::error skeleton_store::put_graph(const content_id& id, std::string_view runtime,
                                     std::string_view graph) const {
  if (runtime.empty() || runtime.find_first_of(" \n") != std::string_view::npos)
    return make_error(ec::invalid_argument, "a runtime name has no spaces or line breaks");
  std::string head{graph_magic};
  head.append(runtime).append(" ").append(graph_text_id(runtime, graph).to_hex()).append("\n");
  std::error_code ec;
  fs::create_directories(root_ + "/skeletons", ec);
  return write_file_atomically(root_ + "/tmp", graph_path_of(id),
                               {{head.data(), head.size()}, {graph.data(), graph.size()}});
}

caf::expected<std::optional<std::string>>
skeleton_store::get_graph(const content_id& id, std::string_view runtime) const {
  auto path = graph_path_of(id);
  std::error_code ec;
  if (!fs::exists(path, ec))
    return std::optional<std::string>{};
  std::string bytes;
  if (auto err = read_whole_file(path, bytes))
    return err;
  auto corrupt = [&](const char* what) {
    return make_error(ec::corrupt_blob, "graph of skeleton " + id.to_hex() + ": " + what);
  };
  auto eol = bytes.find('\n');
  if (eol == std::string::npos || bytes.compare(0, graph_magic.size(), graph_magic) != 0)
    return corrupt("no header line");
  std::string_view head{bytes.data() + graph_magic.size(), eol - graph_magic.size()};
  auto space = head.rfind(' ');
  if (space == std::string_view::npos)
    return corrupt("no runtime in its header line");
  if (head.substr(0, space) != runtime)
    return std::optional<std::string>{};
  auto graph = std::string_view{bytes}.substr(eol + 1);
  if (head.substr(space + 1) != graph_text_id(runtime, graph).to_hex())
    return corrupt("its text does not hash to its header (the file is corrupt)");
  return std::optional<std::string>{std::string{graph}};
}

caf::expected<content_id> skeleton_store::put(skeleton_kind kind,
                                              std::string_view bytes) const {
  auto id = skeleton_id_of(to_string(kind), bytes);
  auto path = path_of(id, kind);
  std::error_code ec;
  if (fs::exists(path, ec))
    return id;
  fs::create_directories(root_ + "/skeletons", ec);
  if (auto err = write_file_atomically(root_ + "/tmp", path, {{bytes.data(), bytes.size()}}))
    return err;
  return id;
}

bool skeleton_store::contains(const content_id& id) const {
  std::error_code ec;
  return fs::exists(path_of(id, skeleton_kind::script), ec)
         || fs::exists(path_of(id, skeleton_kind::module), ec);
}

std::vector<content_id> skeleton_store::list() const {
  std::vector<content_id> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{root_ + "/skeletons", ec}) {
    auto ext = entry.path().extension().string();
    if (!entry.is_regular_file(ec) || (ext != ".script" && ext != ".module"))
      continue;
    if (auto id = parse_content_id(entry.path().stem().string()))
      out.push_back(*id);
  }
  return out;
}

caf::error skeleton_store::remove(const content_id& id) const {
  for (const auto& path : {path_of(id, skeleton_kind::script), path_of(id, skeleton_kind::module),
                           graph_path_of(id)}) {
    std::error_code ec;
    fs::remove(path, ec);
    if (ec)
      return make_error(ec::io_error,
                        "cannot remove skeleton " + id.to_hex() + ": " + ec.message());
  }
  return {};
}

caf::expected<skeleton_source> skeleton_store::get(const content_id& id) const {
  for (auto kind : {skeleton_kind::script, skeleton_kind::module}) {
    auto path = path_of(id, kind);
    std::error_code ec;
    if (!fs::exists(path, ec))
      continue;
    skeleton_source src{id, kind, {}};
    if (auto err = read_whole_file(path, src.bytes))
      return err;
    if (skeleton_id_of(to_string(kind), src.bytes) != id)
      return make_error(ec::corrupt_blob,
                        "skeleton " + id.to_hex() + " does not hash to its id (the file is corrupt)");
    return src;
  }
  return make_error(ec::unknown_skeleton, "skeleton " + id.to_hex() + " is not in the store");
}

} // namespace tessera::store
