// .npy files: what Tessera writes, NumPy reads (the header NumPy itself writes
// for the same array, byte for byte), and what NumPy writes, Tessera reads;
// what Tessera cannot read is refused, naming the file and the reason.
#include "tessera/core/error.hpp"
#include "tessera/core/npy.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

using namespace tessera;

namespace {

// The file NumPy 1.x writes with np.save for a float32 array of `shape_text`
// holding `data` (header padded so the data starts at byte 64 or 128).
std::string numpy_file(const std::string& descr, const std::string& shape_text,
                       const std::string& data, const std::string& fortran = "False") {
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape_text + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out{"\x93NUMPY\x01\x00", 8};
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

std::string bytes_of(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

} // namespace

TEST_SUITE("npy") {
  TEST_CASE("a tensor written as .npy is the file NumPy writes, and reads back the same") {
    std::vector<float> v{1, 2, 3, 4, 5, 6};
    auto t = tensor_buffer::copy_of(tensor_spec{dtype::float32, {2, 3}}, v.data());
    auto file = write_npy(t);
    REQUIRE(file);
    CHECK(*file == numpy_file("<f4", "(2, 3)", bytes_of(v)));
    CHECK(file->size() % 64 == bytes_of(v).size() % 64); // data starts on a 64-byte boundary
    auto back = read_npy(*file, "t.npy");
    REQUIRE(back);
    CHECK(back->spec == t.spec);
    CHECK(std::memcmp(back->data, v.data(), t.bytes) == 0);
    // One dimension is written as NumPy writes it: (6,).
    auto flat = write_npy(tensor_buffer::copy_of(tensor_spec{dtype::float32, {6}}, v.data()));
    REQUIRE(flat);
    CHECK(*flat == numpy_file("<f4", "(6,)", bytes_of(v)));
  }

  TEST_CASE("every dtype NumPy names round-trips; bfloat16, which it does not, is refused") {
    for (auto type : {dtype::float64, dtype::float16, dtype::int8, dtype::int16, dtype::int32,
                      dtype::int64, dtype::uint8, dtype::boolean}) {
      CAPTURE(to_string(type));
      std::vector<std::byte> zeros(64);
      auto t = tensor_buffer::copy_of(tensor_spec{type, {1, 4}}, zeros.data());
      auto file = write_npy(t);
      REQUIRE(file);
      auto back = read_npy(*file, "t.npy");
      REQUIRE(back);
      CHECK(back->spec == t.spec);
    }
    std::vector<std::byte> zeros(8);
    CHECK_FALSE(write_npy(tensor_buffer::copy_of(tensor_spec{dtype::bfloat16, {4}}, zeros.data())));
  }

  TEST_CASE("what cannot be read is refused, naming the file and the reason") {
    std::vector<float> v{1, 2, 3, 4};
    auto reason = [](const caf::expected<tensor_buffer>& r) {
      REQUIRE_FALSE(r);
      CHECK(code_of(r.error()) == ec::invalid_argument);
      auto text = describe(r.error());
      CHECK_MESSAGE(text.find("x.npy") != std::string::npos, text);
      return text;
    };
    CHECK(reason(read_npy("plain bytes", "x.npy")).find("\\x93NUMPY") != std::string::npos);
    CHECK(reason(read_npy(numpy_file(">f4", "(4,)", bytes_of(v)), "x.npy")).find("'>f4'") !=
          std::string::npos);
    CHECK(reason(read_npy(numpy_file("<f4", "(2, 2)", bytes_of(v), "True"), "x.npy"))
              .find("Fortran order") != std::string::npos);
    CHECK(reason(read_npy(numpy_file("<f4", "(2, 3)", bytes_of(v)), "x.npy"))
              .find("holds 16 data bytes") != std::string::npos);
    auto cut = numpy_file("<f4", "(4,)", bytes_of(v)).substr(0, 40);
    CHECK(reason(read_npy(cut, "x.npy")).find("cut short") != std::string::npos);
  }
}
