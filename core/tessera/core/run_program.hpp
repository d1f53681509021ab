// Runs another program, without a shell: its arguments are passed as they
// are, so a path with quotes or spaces needs no escaping.
#pragma once

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tessera {

/// Runs `argv` (argv[0] looked up in PATH) with its output and errors
/// discarded, and waits for it. Its exit status; ec::unavailable when it
/// could not be started (not installed, say).
caf::expected<int> run_program(const std::vector<std::string>& argv);

} // namespace tessera
