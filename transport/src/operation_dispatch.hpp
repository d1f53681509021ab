// Internal: reads the `op` of a decoded header and fills the matching alternative of
// request_body or response_body, so each decoder only lists the fields of each
// operation and never hand-writes a switch over operations.
#pragma once

#include "tensor_fields.hpp"

#include <utility>
#include <variant>

namespace tessera::transport::detail {

/// Default-constructs alternative `index` of `out` and lets `read_one` fill it.
template <class Variant, class ReadOne, size_t... Is>
bool read_alternative(size_t index, Variant& out, ReadOne&& read_one, std::index_sequence<Is...>) {
  bool ok = false;
  auto try_one = [&](auto tag) {
    constexpr size_t i = decltype(tag)::value;
    if (i != index)
      return false;
    std::variant_alternative_t<i, Variant> value{};
    ok = read_one(value);
    if (ok)
      out = std::move(value);
    return true;
  };
  (try_one(std::integral_constant<size_t, Is>{}) || ...);
  return ok;
}

/// Reads `op`, then the operation's fields with `read_body(root, alternative)`, then
/// checks that every data frame was used.
template <class Variant, class ReadBody>
bool read_operation(const field_map& root, Variant& out, ReadBody&& read_body) {
  std::string name;
  if (!root.required("op", name))
    return false;
  auto op = parse_operation(name);
  if (!op) {
    root.state().error = op.error();
    return false;
  }
  return read_alternative(
             static_cast<size_t>(*op), out, [&](auto& value) { return read_body(root, value); },
             std::make_index_sequence<std::variant_size_v<Variant>>{}) &&
         all_frames_used(root.state());
}

} // namespace tessera::transport::detail
