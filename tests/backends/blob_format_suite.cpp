// Blob files of both formats: format 2 (data, then a trailer), which the
// store writes, and format 1 (a header page, then data), which stores written
// before 2026-12-07 hold and which every read path still serves.
#include "scratch_dir.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/block_store.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace tessera;
namespace fs = std::filesystem;

namespace {

std::vector<float> values(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(i % 977) * 0.5f - 7.0f;
  return v;
}

// Writes `data` as a format 1 file where the store keeps blob `id`.
void write_format_1(const store::blob_store& blobs, const content_id& id, const tensor_spec& spec,
                    const std::vector<float>& data) {
  store::blob_header h{id, spec, spec.bytes(), store::blob_format_header_page};
  auto fields = store::encode_blob_fields(h);
  std::vector<char> page(store::blob_header_page_bytes, 0);
  std::memcpy(page.data(), fields.data(), fields.size());
  auto path = blobs.path_of(id);
  fs::create_directories(fs::path{path}.parent_path());
  std::ofstream f{path, std::ios::binary | std::ios::trunc};
  f.write(page.data(), static_cast<std::streamsize>(page.size()));
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(spec.bytes()));
}

// Every read path gives `want` for blob `id`.
void check_reads(const store::blob_store& blobs, const content_id& id, const tensor_spec& spec,
                 const std::vector<float>& want) {
  for (auto method : {store::read_method::map, store::read_method::copy}) {
    auto t = blobs.read(id, method);
    REQUIRE(t);
    CHECK(t->spec == spec);
    CHECK(std::memcmp(t->data, want.data(), spec.bytes()) == 0);
    CHECK(reinterpret_cast<uintptr_t>(t->data) % 64 == 0);
  }
  for (int read = 0; read < 2; ++read) { // from the file, then from the kept mapping
    std::vector<float> got(want.size(), 0.0f);
    auto h = blobs.read_into(id, reinterpret_cast<std::byte*>(got.data()), spec.bytes(), true);
    REQUIRE(h);
    CHECK(h->spec == spec);
    CHECK(got == want);
  }
  auto f = blobs.open(id);
  REQUIRE(f);
  std::vector<float> tail(want.size() / 2);
  auto from = want.size() - tail.size();
  REQUIRE_FALSE(f->read_data(tail.data(), tail.size() * 4, from * 4));
  CHECK(std::memcmp(tail.data(), want.data() + from, tail.size() * 4) == 0);
  CHECK_FALSE(blobs.verify(id));
}

} // namespace

TEST_SUITE("blob_format") {
  TEST_CASE("a stored blob is its data then a 192-byte trailer, read by every path") {
    test::scratch_dir dir{"blob-format"};
    auto st = store::block_store::open(dir.path());
    REQUIRE(st);
    // One read chunk (512 KiB) and several: the trailer comes with the data,
    // or is read first so that the chunks hash as they come.
    for (int64_t rows : {10, 400}) {
      tensor_spec spec{dtype::float32, {rows, 1000}};
      auto data = values(static_cast<size_t>(spec.elements()));
      auto id = st->blobs().put(spec, data.data());
      REQUIRE(id);
      auto path = st->blobs().path_of(*id);
      CHECK(fs::file_size(path) == spec.bytes() + store::blob_field_bytes);
      std::vector<char> head(16);
      std::ifstream{path, std::ios::binary}.read(head.data(), 16);
      CHECK(std::memcmp(head.data(), data.data(), 16) == 0); // the data at offset 0
      auto h = st->blobs().header(*id);
      REQUIRE(h);
      CHECK(h->format == store::blob_format_trailer);
      CHECK(h->data_offset() == 0);
      check_reads(st->blobs(), *id, spec, data);
    }
  }

  TEST_CASE("a format 1 file is read by every path, and a restore keeps its format") {
    test::scratch_dir dir{"blob-format-1"};
    auto st = store::block_store::open(dir.path());
    REQUIRE(st);
    for (int64_t rows : {10, 400}) {
      tensor_spec spec{dtype::float32, {rows, 1000}};
      auto data = values(static_cast<size_t>(spec.elements()));
      auto id = blob_id_of(spec, data.data(), spec.bytes());
      write_format_1(st->blobs(), id, spec, data);
      auto h = st->blobs().header(id);
      REQUIRE(h);
      CHECK(h->format == store::blob_format_header_page);
      CHECK(h->data_offset() == store::blob_header_page_bytes);
      check_reads(st->blobs(), id, spec, data);
      // A wrong size from the caller names the blob and both sizes.
      std::vector<float> small(10);
      auto wrong = st->blobs().read_into(id, reinterpret_cast<std::byte*>(small.data()), 40, true);
      REQUIRE_FALSE(wrong);
      CHECK(code_of(wrong.error()) == ec::corrupt_blob);
      CHECK(describe(wrong.error()).find(id.to_hex()) != std::string::npos);
      // Damaged, then restored in place: same length, same format, good again.
      auto path = st->blobs().path_of(id);
      st->blobs().mappings().clear();
      fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
      {
        std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
        f.seekp(static_cast<std::streamoff>(store::blob_header_page_bytes + 100));
        f.write("\x5a\x5a\x5a\x5a", 4);
      }
      CHECK(code_of(st->blobs().verify(id)) == ec::corrupt_blob);
      REQUIRE(st->blobs().restore(spec, data.data()));
      CHECK(fs::file_size(path) == spec.bytes() + store::blob_header_page_bytes);
      check_reads(st->blobs(), id, spec, data);
    }
  }

  TEST_CASE("files of neither format, or cut short, are corrupt blobs that name the blob") {
    test::scratch_dir dir{"blob-format-bad"};
    auto st = store::block_store::open(dir.path());
    REQUIRE(st);
    tensor_spec spec{dtype::float32, {300, 1000}};
    auto data = values(static_cast<size_t>(spec.elements()));
    auto id = st->blobs().put(spec, data.data());
    REQUIRE(id);
    auto path = st->blobs().path_of(*id);
    auto whole = fs::file_size(path);
    fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
    for (auto cut : {uint64_t{0}, uint64_t{100}, uint64_t{5000}, whole - 1, whole + 1}) {
      fs::resize_file(path, cut);
      st->blobs().mappings().clear();
      std::vector<float> got(data.size());
      auto h =
          st->blobs().read_into(*id, reinterpret_cast<std::byte*>(got.data()), spec.bytes(), true);
      REQUIRE_FALSE(h);
      CHECK(code_of(h.error()) == ec::corrupt_blob);
      CHECK(describe(h.error()).find(id->to_hex()) != std::string::npos);
      auto header = st->blobs().header(*id);
      REQUIRE_FALSE(header);
      CHECK(code_of(header.error()) == ec::corrupt_blob);
      CHECK_FALSE(st->blobs().open(*id));
    }
  }
}
