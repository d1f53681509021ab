#include "config_text.hpp"

#include "tessera/core/error.hpp"

#include <cmath>

namespace tessera::config_text {

caf::error bad_field(const std::string& key, const std::string& what) {
  return make_error(ec::bad_config, key + ": " + what);
}

caf::expected<uint64_t> parse_u64(const std::string& key, const std::string& text) {
  // Accepts plain integers and the suffixes KiB, MiB, GiB (powers of two).
  size_t pos = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &pos);
  } catch (const std::exception&) {
    return bad_field(key, "\"" + text + "\" is not a non-negative integer");
  }
  auto suffix = text.substr(pos);
  uint64_t scale = 1;
  if (suffix == "KiB" || suffix == "K")
    scale = 1ull << 10;
  else if (suffix == "MiB" || suffix == "M")
    scale = 1ull << 20;
  else if (suffix == "GiB" || suffix == "G")
    scale = 1ull << 30;
  else if (!suffix.empty())
    return bad_field(key, "unknown size suffix \"" + suffix + "\" (use KiB, MiB or GiB)");
  return static_cast<uint64_t>(value) * scale;
}

caf::expected<bool> parse_bool(const std::string& key, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on")
    return true;
  if (text == "false" || text == "0" || text == "no" || text == "off")
    return false;
  return bad_field(key, "\"" + text + "\" is not a boolean");
}

namespace {

caf::expected<double> parse_number(const std::string& key, const std::string& text) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    return bad_field(key, "\"" + text + "\" is not a number");
  }
  if (pos != text.size() || !std::isfinite(value))
    return bad_field(key, "\"" + text + "\" is not a finite number");
  return value;
}

} // namespace

caf::expected<double> parse_fraction(const std::string& key, const std::string& text) {
  auto value = parse_number(key, text);
  if (value && !(*value > 0.0 && *value <= 1.0))
    return bad_field(key, "\"" + text + "\" is not a fraction in (0, 1]");
  return value;
}

caf::expected<double> parse_non_negative(const std::string& key, const std::string& text) {
  auto value = parse_number(key, text);
  if (value && *value < 0.0)
    return bad_field(key, "\"" + text + "\" is negative");
  return value;
}

std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    auto comma = v.find(',', start);
    auto item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty())
      out.push_back(item);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& p : items)
    out += (out.empty() ? "" : ",") + p;
  return out;
}

std::string number_text(double x) {
  auto s = std::to_string(x);
  while (s.size() > 1 && s.back() == '0')
    s.pop_back();
  if (s.size() > 1 && s.back() == '.')
    s.pop_back();
  return s;
}

} // namespace tessera::config_text
