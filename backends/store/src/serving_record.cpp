#include "tessera/store/serving_record.hpp"

#include "tessera/core/error.hpp"
#include "tessera/store/atomic_file.hpp"
#include "tessera/store/block_store.hpp"

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <sstream>

#include <signal.h>
#include <unistd.h>

namespace tessera::store {

namespace fs = std::filesystem;

caf::expected<serving_record> serving_record::write(const block_store& store,
                                                    const serving_node& node) {
  static std::atomic<uint64_t> next{0}; // several nodes may share a process
  auto dir = store.root() + "/serving";
  std::error_code ec;
  fs::create_directories(dir, ec);
  auto path = dir + "/" + std::to_string(::getpid()) + "-" + std::to_string(next++);
  auto text = node.name + "\n" + node.endpoint + "\n";
  if (auto err = write_file_atomically(store.root() + "/tmp", path, {{text.data(), text.size()}}))
    return err;
  return serving_record{path};
}

serving_record::serving_record(serving_record&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

serving_record& serving_record::operator=(serving_record&& other) noexcept {
  if (this != &other) {
    std::error_code ec;
    if (!path_.empty())
      fs::remove(path_, ec);
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

serving_record::~serving_record() {
  std::error_code ec;
  if (!path_.empty())
    fs::remove(path_, ec);
}

std::vector<serving_node> serving_nodes(const block_store& store) {
  std::vector<serving_node> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{store.root() + "/serving", ec}) {
    auto file = entry.path().filename().string();
    serving_node n;
    try {
      n.pid = std::stoi(file.substr(0, file.find('-')));
    } catch (const std::exception&) {
      continue;
    }
    // A dead process's record (a node that crashed) names nobody.
    if (n.pid <= 0 || (::kill(n.pid, 0) != 0 && errno != EPERM))
      continue;
    std::string text;
    if (read_whole_file(entry.path().string(), text))
      continue;
    std::istringstream in{text};
    std::getline(in, n.name);
    std::getline(in, n.endpoint);
    if (!n.endpoint.empty())
      out.push_back(std::move(n));
  }
  return out;
}

} // namespace tessera::store
