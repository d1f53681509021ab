// Which nodes serve from a store: a running node writes <root>/serving/<pid>-<n>
// (its name and endpoint) and removes it when it stops. Tools that remove
// models (`tessera models rm`) ask the nodes these records name whether they
// hold the model; a record whose process is gone is ignored.
#pragma once

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tessera::store {

class block_store;

struct serving_node {
  int pid = 0;
  std::string name;
  std::string endpoint;
};

/// A node's record, removed when the guard goes.
class serving_record {
public:
  static caf::expected<serving_record> write(const block_store& store, const serving_node& node);

  serving_record(serving_record&& other) noexcept;
  serving_record& operator=(serving_record&& other) noexcept;
  serving_record(const serving_record&) = delete;
  serving_record& operator=(const serving_record&) = delete;
  ~serving_record();

private:
  explicit serving_record(std::string path) : path_(std::move(path)) {
    // nop
  }
  std::string path_;
};

/// The nodes whose records are in the store and whose processes live.
std::vector<serving_node> serving_nodes(const block_store& store);

} // namespace tessera::store
