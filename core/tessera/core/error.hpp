// Tessera's one error enum and the helpers that turn it into caf::error values.
// Every layer returns errors as values (caf::expected<T>); exceptions from LibTorch,
// msgpack and ZeroMQ are caught where they arise and converted with make_error().
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <string>

namespace tessera {

/// Error codes of every Tessera layer. The numbers are stable: they travel on the
/// wire (see docs/protocol.md), so append new codes, never renumber.
enum class ec : uint8_t {
  none = 0,
  invalid_argument = 1,   ///< a caller passed a value outside its domain
  bad_manifest = 2,       ///< a model manifest failed validation
  unknown_model = 3,      ///< no model with that name (and version)
  unknown_blob = 4,       ///< a blob id that the store does not hold
  corrupt_blob = 5,       ///< a blob whose bytes do not hash to its id
  io_error = 6,           ///< the operating system refused a file operation
  shape_mismatch = 7,     ///< a tensor's shape differs from its declaration
  dtype_mismatch = 8,     ///< a tensor's dtype differs from its declaration
  out_of_memory = 9,      ///< a budget or a device could not hold the request
  backend_error = 10,     ///< LibTorch (or CUDA) failed while running a model
  unknown_skeleton = 11,  ///< a block skeleton that the store does not hold
  bad_config = 12,        ///< a configuration value failed validation
  unsupported = 13,       ///< a feature this build or device does not offer
  already_exists = 14,    ///< a name that is taken
  missing_input = 15,     ///< a request or node lacks a required input
  malformed_request = 16, ///< bytes that are not a valid request (MessagePack or schema)
  message_too_large = 17, ///< a message or tensor above the configured maximum size
  deadline_exceeded = 18, ///< a request that could not finish by its deadline
  unknown_operation = 19, ///< a request naming an operation the node does not offer
  unavailable = 20,       ///< a peer or node is down or not reachable
  overloaded = 21,        ///< admission control refused the request; retry later
  unloading = 22,         ///< the model or group is being unloaded
};

/// The category atom of Tessera's errors (at most 10 characters, as CAF requires).
caf::atom_value error_category();

/// The stable snake_case name of a code, as used in logs and on the wire.
const char* to_string(ec code);

/// Makes an error carrying a code and a human-readable context string.
caf::error make_error(ec code, std::string what);

/// Makes an error with no context (needed by CAF to treat `ec` as an error enum).
caf::error make_error(ec code);

/// Returns the Tessera code of `err`, or `ec::backend_error` for foreign errors.
ec code_of(const caf::error& err);

/// Renders an error for people: "corrupt_blob: blob 3fa2... of model resnet ...".
std::string describe(const caf::error& err);

/// Prefixes the context of `err` with `prefix` (keeping its code), so a caller can
/// add what it was doing: wrap(err, "model resnet18-base") -> "model ...: <old>".
caf::error wrap(const caf::error& err, const std::string& prefix);

} // namespace tessera
