#include "tessera/core/error.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace tessera {

caf::atom_value error_category() {
  return caf::atom("tessera");
}

const char* to_string(ec code) {
  switch (code) {
    case ec::none: return "none";
    case ec::invalid_argument: return "invalid_argument";
    case ec::bad_manifest: return "bad_manifest";
    case ec::unknown_model: return "unknown_model";
    case ec::unknown_blob: return "unknown_blob";
    case ec::corrupt_blob: return "corrupt_blob";
    case ec::io_error: return "io_error";
    case ec::shape_mismatch: return "shape_mismatch";
    case ec::dtype_mismatch: return "dtype_mismatch";
    case ec::out_of_memory: return "out_of_memory";
    case ec::backend_error: return "backend_error";
    case ec::unknown_skeleton: return "unknown_skeleton";
    case ec::bad_config: return "bad_config";
    case ec::unsupported: return "unsupported";
    case ec::already_exists: return "already_exists";
    case ec::missing_input: return "missing_input";
    case ec::malformed_request: return "malformed_request";
    case ec::message_too_large: return "message_too_large";
    case ec::deadline_exceeded: return "deadline_exceeded";
    case ec::unknown_operation: return "unknown_operation";
    case ec::unavailable: return "unavailable";
    case ec::overloaded: return "overloaded";
    case ec::unloading: return "unloading";
  }
  return "unknown_error";
}

caf::error make_error(ec code, std::string what) {
  return caf::error{static_cast<uint8_t>(code), error_category(),
                    caf::make_message(std::move(what))};
}

caf::error make_error(ec code) {
  return caf::error{static_cast<uint8_t>(code), error_category()};
}

ec code_of(const caf::error& err) {
  if (!err)
    return ec::none;
  if (err.category() != error_category())
    return ec::backend_error;
  return static_cast<ec>(err.code());
}

namespace {

std::string context_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return ctx.empty() ? std::string{} : caf::to_string(ctx);
}

} // namespace

std::string describe(const caf::error& err) {
  if (!err)
    return "ok";
  std::string head = err.category() == error_category()
                       ? to_string(static_cast<ec>(err.code()))
                       : caf::to_string(err.category()) + ":"
                           + std::to_string(err.code());
  auto ctx = context_text(err);
  return ctx.empty() ? head : head + ": " + ctx;
}

caf::error wrap(const caf::error& err, const std::string& prefix) {
  if (!err)
    return err;
  auto ctx = context_text(err);
  return caf::error{err.code(), err.category(),
                    caf::make_message(ctx.empty() ? prefix : prefix + ": " + ctx)};
}

} // namespace tessera
