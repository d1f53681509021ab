#include "id_recovery.hpp"

#include <msgpack.hpp>

#include <string_view>

namespace tessera::transport::detail {

namespace {

/// Watches the parse for the value of "id" at depth 1 and stops once it has it.
/// Nothing is allocated per element, so hostile sizes cost nothing here.
class id_visitor : public msgpack::null_visitor {
public:
  explicit id_visitor(size_t max_bytes) : max_bytes_(max_bytes) {
    // nop
  }

  bool start_map(uint32_t) {
    if (depth_ == 0 && !seen_root_)
      root_is_map_ = true;
    return enter();
  }

  bool end_map() {
    --depth_;
    return true;
  }

  bool start_array(uint32_t) {
    return enter(); // a root array cannot hold an id: enter() stops at once
  }

  bool end_array() {
    --depth_;
    return true;
  }

  bool start_map_key() {
    in_key_ = depth_ == 1;
    key_is_id_ = false;
    return true;
  }

  bool end_map_key() {
    in_key_ = false;
    return true;
  }

  bool start_map_value() {
    in_value_ = depth_ == 1 && key_is_id_;
    return true;
  }

  bool end_map_value() {
    in_value_ = false;
    return true;
  }

  bool visit_str(const char* v, uint32_t size) {
    if (in_key_) {
      key_is_id_ = std::string_view{v, size} == "id";
      return true;
    }
    if (in_value_) {
      if (size <= max_bytes_)
        id_.assign(v, size);
      return false; // found: no need to read further
    }
    return true;
  }

  /// Descends one level; stops the parse where no id can be found (root is not a
  /// map) or where nesting is deep enough to be hostile (the parser's stack grows).
  bool enter() {
    seen_root_ = true;
    in_value_ = false; // an id that is a map or array is no id
    ++depth_;
    return root_is_map_ && depth_ <= max_depth;
  }

  std::string take() {
    return std::move(id_);
  }

private:
  static constexpr size_t max_depth = 64;

  size_t max_bytes_;
  size_t depth_ = 0;
  bool seen_root_ = false;
  bool root_is_map_ = false;
  bool in_key_ = false;
  bool key_is_id_ = false;
  bool in_value_ = false;
  std::string id_;
};

} // namespace

std::string recover_id(const char* data, size_t size, size_t max_bytes) {
  id_visitor visitor{max_bytes};
  try {
    msgpack::parse(data, size, visitor);
  } catch (...) {
    // The id may still have been seen before the bytes went bad.
  }
  return visitor.take();
}

} // namespace tessera::transport::detail
