#include "tessera/core/npy.hpp"

#include "tessera/core/error.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <optional>

namespace tessera {

namespace {

constexpr std::string_view magic{"\x93NUMPY", 6};

struct npy_type {
  dtype type;
  const char* descr; ///< as NumPy writes it
};

constexpr std::array<npy_type, 9> npy_types{{
    {dtype::float32, "<f4"},
    {dtype::float64, "<f8"},
    {dtype::float16, "<f2"},
    {dtype::int8, "|i1"},
    {dtype::int16, "<i2"},
    {dtype::int32, "<i4"},
    {dtype::int64, "<i8"},
    {dtype::uint8, "|u1"},
    {dtype::boolean, "|b1"},
}};

// The text of `key`'s value in the header dict, up to the next top-level comma.
std::string_view value_of(std::string_view header, std::string_view key) {
  auto at = header.find("'" + std::string{key} + "'");
  if (at == std::string_view::npos)
    return {};
  at = header.find(':', at);
  if (at == std::string_view::npos)
    return {};
  auto rest = header.substr(at + 1);
  size_t depth = 0;
  size_t end = 0;
  for (; end < rest.size(); ++end) {
    char c = rest[end];
    if (c == '(')
      ++depth;
    else if (c == ')')
      --depth;
    else if ((c == ',' || c == '}') && depth == 0)
      break;
  }
  auto v = rest.substr(0, end);
  while (!v.empty() && v.front() == ' ')
    v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ')
    v.remove_suffix(1);
  return v;
}

} // namespace

bool is_npy(std::string_view bytes) {
  return bytes.substr(0, magic.size()) == magic;
}

caf::expected<tensor_buffer> read_npy(std::string_view bytes, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return make_error(ec::invalid_argument, what + ": not a .npy file Tessera can read: " + why);
  };
  if (!is_npy(bytes) || bytes.size() < 10)
    return bad("it does not start with \\x93NUMPY");
  auto major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0;
  size_t start = 0;
  if (major == 1) {
    header_len =
        static_cast<uint8_t>(bytes[8]) | static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return bad("its header is cut short");
    for (int i = 3; i >= 0; --i)
      header_len = header_len << 8 | static_cast<uint8_t>(bytes[8 + static_cast<size_t>(i)]);
    start = 12;
  } else {
    return bad("format version " + std::to_string(major) + " (1 to 3 are known)");
  }
  if (bytes.size() < start + header_len)
    return bad("its header is cut short");
  auto header = bytes.substr(start, header_len);
  auto descr = value_of(header, "descr");
  if (descr.size() < 2 || descr.front() != '\'' || descr.back() != '\'')
    return bad("its header has no 'descr'");
  descr = descr.substr(1, descr.size() - 2);
  // Little-endian ('<'), native ('='; this code runs on little-endian
  // machines) or byte-order free ('|'), then the type code NumPy writes.
  std::optional<dtype> type;
  bool little =
      descr.size() == 3 && std::string_view{"<=|"}.find(descr[0]) != std::string_view::npos;
  for (const auto& t : npy_types)
    if (little && descr.substr(1) == std::string_view{t.descr}.substr(1))
      type = t.type;
  if (!type)
    return bad("dtype '" + std::string{descr} +
               "' (little-endian float16/32/64, int8/16/32/64, uint8 or bool are read)");
  if (value_of(header, "fortran_order") != "False")
    return bad("it is in Fortran order (save a C-ordered array: np.ascontiguousarray)");
  auto shape_text = value_of(header, "shape");
  if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')')
    return bad("its header has no 'shape'");
  shape_text = shape_text.substr(1, shape_text.size() - 2);
  tensor_spec spec{*type, {}};
  while (!shape_text.empty()) {
    while (!shape_text.empty() && (shape_text.front() == ' ' || shape_text.front() == ','))
      shape_text.remove_prefix(1);
    if (shape_text.empty())
      break;
    int64_t d = 0;
    auto [end, ec] = std::from_chars(shape_text.data(), shape_text.data() + shape_text.size(), d);
    if (ec != std::errc{} || d < 0)
      return bad("its shape is not a tuple of sizes");
    spec.shape.push_back(d);
    shape_text.remove_prefix(static_cast<size_t>(end - shape_text.data()));
  }
  auto data = bytes.substr(start + header_len);
  if (data.size() != spec.bytes())
    return bad("it holds " + std::to_string(data.size()) + " data bytes, its header (" +
               to_string(spec) + ") says " + std::to_string(spec.bytes()));
  return tensor_buffer::copy_of(spec, data.data());
}

caf::expected<std::string> write_npy(const tensor_buffer& t) {
  const char* descr = nullptr;
  for (const auto& n : npy_types)
    if (n.type == t.spec.type)
      descr = n.descr;
  if (descr == nullptr)
    return make_error(ec::unsupported,
                      std::string{"NumPy has no dtype for "} + to_string(t.spec.type));
  // As Python writes a tuple: (2, 3), (6,), ().
  std::string shape;
  for (auto d : t.spec.shape)
    shape += (shape.empty() ? "" : ", ") + std::to_string(d);
  shape = "(" + shape + (t.spec.shape.size() == 1 ? ",)" : ")");
  std::string header =
      "{'descr': '" + std::string{descr} + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Padded with spaces and ended by a newline so the data starts on a 64-byte boundary.
  size_t total = magic.size() + 4 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out{magic};
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(t.data), t.bytes);
  return out;
}

} // namespace tessera
