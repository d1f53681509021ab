// Internal to core: how node_config's entries read and write their values as
// text (flags, environment, TOML scalars), with errors that name the key.
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::config_text {

/// A bad_config error "key: what".
caf::error bad_field(const std::string& key, const std::string& what);

/// A non-negative integer, with an optional KiB/MiB/GiB (or K/M/G) suffix.
caf::expected<uint64_t> parse_u64(const std::string& key, const std::string& text);

/// true/false, 1/0, yes/no, on/off.
caf::expected<bool> parse_bool(const std::string& key, const std::string& text);

/// A number in (0, 1].
caf::expected<double> parse_fraction(const std::string& key, const std::string& text);

/// A finite number >= 0.
caf::expected<double> parse_non_negative(const std::string& key, const std::string& text);

/// "a,b,,c" -> {a, b, c}.
std::vector<std::string> split_list(const std::string& v);

/// {a, b} -> "a,b".
std::string join_list(const std::vector<std::string>& items);

/// A number without trailing zeros ("0.85", "12").
std::string number_text(double x);

} // namespace tessera::config_text
