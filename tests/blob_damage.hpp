// Damage to a blob file on disk, for the tests of corruption and integrity.
#pragma once

#include "tessera/store/blob_format.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace tessera::test {

/// XORs one byte in the middle of a blob file's data (a stored blob's data
/// comes first, its fields after), in place; a second call restores it.
inline void flip_data_byte(const std::string& path) {
  std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
  REQUIRE(f);
  auto size = std::filesystem::file_size(path);
  auto pos = static_cast<std::streamoff>((size - store::blob_field_bytes) / 2);
  f.seekg(pos);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(pos);
  f.write(&c, 1);
}

} // namespace tessera::test
