#include "error_of.hpp"
#include "page_cache.hpp"
#include "scratch_dir.hpp"
#include "store_fixture.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/store/stream_copy.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using namespace tessera;
using test::fresh_store;
using test::model_using;
using test::ramp;
namespace fs = std::filesystem;

namespace {

void flip_byte(const std::string& path, size_t offset) {
  std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

size_t count_files(const std::string& dir, const std::string& suffix) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator{dir, ec}) {
    auto name = e.path().filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      ++n;
  }
  return n;
}

} // namespace

TEST_SUITE("store") {
  TEST_CASE("blobs round trip through map and copy reads, aligned for in-place use") {
    fresh_store fresh;
    auto* st = &fresh.st;
    auto data = ramp(5000);
    tensor_spec spec{dtype::float32, {50, 100}};
    auto id = st->blobs().put(spec, data.data());
    REQUIRE(id);
    CHECK(*id == blob_id_of(spec, data.data(), spec.bytes()));
    for (auto method : {store::read_method::map, store::read_method::copy}) {
      auto t = st->blobs().read(*id, method);
      REQUIRE(t);
      CHECK(t->spec == spec);
      CHECK(t->bytes == spec.bytes());
      CHECK(std::memcmp(t->data, data.data(), spec.bytes()) == 0);
      CHECK(reinterpret_cast<uintptr_t>(t->data) % 64 == 0);
    }
    auto h = st->blobs().header(*id);
    REQUIRE(h);
    CHECK(h->spec == spec);
  }

  TEST_CASE("identical tensors are stored once") {
    fresh_store fresh;
    auto* st = &fresh.st;
    auto data = ramp(1000);
    tensor_spec spec{dtype::float32, {1000}};
    auto a = st->blobs().put(spec, data.data());
    auto b = st->blobs().put(spec, data.data());
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a == *b);
    CHECK(st->blobs().list().size() == 1);
    tensor_spec reshaped{dtype::float32, {10, 100}};
    auto c = st->blobs().put(reshaped, data.data());
    REQUIRE(c);
    CHECK(*c != *a);
    CHECK(st->blobs().list().size() == 2);
  }

  TEST_CASE("a writer that dies mid-write leaves no blob under its real name") {
    fresh_store fresh;
    auto* st = &fresh.st;
    auto data = ramp(6u << 20); // 24 MB: several write chunks
    tensor_spec spec{dtype::float32, {static_cast<int64_t>(data.size())}};
    auto id = blob_id_of(spec, data.data(), spec.bytes());
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // The "crash": the process ends abruptly once part of the blob is on disk.
      st->blobs().put(spec, data.data(), [](size_t written, size_t total) {
        if (written > 0 && written < total)
          ::_exit(42);
      });
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 42);
    CHECK_FALSE(st->blobs().contains(id));
    CHECK(code_of(test::error_of(st->blobs().read(id, store::read_method::map))) ==
          ec::unknown_blob);
    CHECK(count_files(fresh.dir.path() + "/tmp", ".part") == 1);
    auto reopened = store::block_store::open(fresh.dir.path());
    REQUIRE(reopened);
    CHECK(count_files(fresh.dir.path() + "/tmp", ".part") == 0);
    REQUIRE(reopened->blobs().put(spec, data.data()));
    CHECK(reopened->blobs().contains(id));
  }

  TEST_CASE("a corrupt blob is an error naming it, and verify names its models") {
    fresh_store fresh;
    auto* st = &fresh.st;
    tensor_spec spec{dtype::float32, {1024, 4}};
    auto id = std::optional<content_id>{fresh.put_ramp(spec)};
    REQUIRE_FALSE(st->add_model(model_using(*st, *id, spec)));
    CHECK(st->verify_all().corrupt.empty());
    flip_byte(st->blobs().path_of(*id), 1234);
    for (auto method : {store::read_method::map, store::read_method::copy}) {
      auto t = st->blobs().read(*id, method);
      REQUIRE_FALSE(t);
      CHECK(code_of(t.error()) == ec::corrupt_blob);
      CHECK(describe(t.error()).find(id->to_hex()) != std::string::npos);
    }
    auto report = st->verify_all();
    CHECK(report.blobs_checked == 1);
    REQUIRE(report.corrupt.size() == 1);
    CHECK(report.corrupt[0].blob == *id);
    CHECK(report.corrupt[0].models == std::vector<std::string>{"user-model:1"});
  }

  TEST_CASE("truncated and foreign files are corrupt, not crashes") {
    fresh_store fresh;
    auto* st = &fresh.st;
    tensor_spec spec{dtype::float32, {4096}};
    auto id = std::optional<content_id>{fresh.put_ramp(spec)};
    fs::resize_file(st->blobs().path_of(*id), 100);
    CHECK(code_of(test::error_of(st->blobs().read(*id, store::read_method::map))) ==
          ec::corrupt_blob);
    std::ofstream{st->blobs().path_of(*id), std::ios::trunc} << "hello";
    CHECK(code_of(test::error_of(st->blobs().read(*id, store::read_method::copy))) ==
          ec::corrupt_blob);
  }

  // read_into: the loader's path. A first read preads the file; later reads of
  // the same file version copy from the mapping kept after it (decision 34).
  TEST_CASE("a blob read again is copied from its kept mapping, byte for byte") {
    fresh_store fresh;
    auto& blobs = fresh.st.blobs();
    tensor_spec spec{dtype::float32, {300, 1000}}; // 1.2 MB: several read chunks
    auto id = fresh.put_ramp(spec);
    auto want = ramp(static_cast<size_t>(spec.elements()));
    for (int read = 0; read < 3; ++read) {
      std::vector<float> got(want.size(), 0.0f);
      auto h = blobs.read_into(id, reinterpret_cast<std::byte*>(got.data()), spec.bytes(), true);
      REQUIRE(h);
      CHECK(h->spec == spec);
      CHECK(got == want);
    }
    auto c = blobs.mappings().counts();
    CHECK(c.mapped == 1);
    CHECK(c.hits == 2);
    CHECK(c.mappings == 1);
    CHECK(c.watched == 1); // its folder is watched: reads stat nothing
    CHECK(c.mapped_bytes == spec.bytes() + store::blob_field_bytes);
    // A wrong size from the caller is an error naming the blob, mapped or not.
    std::vector<float> small(10);
    auto wrong = blobs.read_into(id, reinterpret_cast<std::byte*>(small.data()), 40, true);
    REQUIRE_FALSE(wrong);
    CHECK(code_of(wrong.error()) == ec::corrupt_blob);
    CHECK(describe(wrong.error()).find(id.to_hex()) != std::string::npos);
    blobs.mappings().clear();
    CHECK(blobs.mappings().counts().mappings == 0);
  }

  // Decision 41: the loader asks for a load's next files ahead of its reads.
  TEST_CASE("advise_reading has the kernel read a blob's file into the page cache") {
    fresh_store fresh;
    auto& blobs = fresh.st.blobs();
    tensor_spec spec{dtype::float32, {300, 1000}};
    auto id = fresh.put_ramp(spec);
    auto path = blobs.path_of(id);
    test::drop_pages(path);
    auto [before, pages] = test::cached_pages(path);
    REQUIRE(pages > 0);
    if (before > 0) {
      MESSAGE("this file system keeps the pages of a dropped file (" << before << " of " << pages
                                                                     << "): nothing to observe");
      return;
    }
    blobs.advise_reading(id, spec.bytes());
    // The reads are queued when it returns, and done soon after.
    size_t cached = 0;
    for (int i = 0; i < 500 && cached < pages; ++i) {
      cached = test::cached_pages(path).first;
      if (cached < pages)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(cached == pages);
    // An unknown blob is left to its read to report.
    blobs.advise_reading(skeleton_id_of("test", "no such blob"), 100);
  }

  // The loader's copy (decision 39): streaming stores need an aligned
  // destination, so the head before the first boundary and the tail after
  // the last full line go through memcpy. Every split must copy every byte,
  // and write nothing outside the destination.
  TEST_CASE("stream_copy copies every byte at every alignment and length") {
    constexpr size_t guard = 64;
    std::vector<std::byte> src(store::stream_copy_min_bytes * 3 + 200);
    for (size_t i = 0; i < src.size(); ++i)
      src[i] = static_cast<std::byte>((i * 131 + i / 256) & 0xff);
    for (size_t bytes : {size_t{0}, size_t{1}, size_t{100}, store::stream_copy_min_bytes - 1,
                         store::stream_copy_min_bytes, store::stream_copy_min_bytes + 63,
                         store::stream_copy_min_bytes * 3 + 17})
      for (size_t dst_at : {0, 1, 8, 15, 33})
        for (size_t src_at : {0, 3, 16}) {
          CAPTURE(bytes);
          CAPTURE(dst_at);
          CAPTURE(src_at);
          std::vector<std::byte> dst(bytes + dst_at + 2 * guard, std::byte{0xee});
          store::stream_copy(dst.data() + guard + dst_at, src.data() + src_at, bytes);
          bool same = std::memcmp(dst.data() + guard + dst_at, src.data() + src_at, bytes) == 0;
          CHECK(same);
          size_t untouched = 0;
          for (size_t i = 0; i < guard + dst_at; ++i)
            untouched += dst[i] == std::byte{0xee} ? 1 : 0;
          for (size_t i = guard + dst_at + bytes; i < dst.size(); ++i)
            untouched += dst[i] == std::byte{0xee} ? 1 : 0;
          CHECK(untouched == dst.size() - bytes);
        }
  }

  TEST_CASE(
      "a mapped blob that is corrupted, truncated, replaced or removed is read as it is now") {
    fresh_store fresh;
    auto& blobs = fresh.st.blobs();
    // Changes are seen through the folder's watch, or through a stat of the
    // file at every read (network file systems): the same outcomes either way.
    bool watched = true;
    SUBCASE("its folder watched") {
      watched = true;
    }
    SUBCASE("every read stats its file") {
      watched = false;
    }
    blobs.mappings().set_watching(watched);
    tensor_spec spec{dtype::float32, {64, 1024}};
    auto id = fresh.put_ramp(spec);
    auto path = blobs.path_of(id);
    std::vector<std::byte> buf(spec.bytes());
    auto read = [&] { return blobs.read_into(id, buf.data(), spec.bytes(), true); };
    REQUIRE(read());
    REQUIRE(read()); // now from the mapping
    REQUIRE(blobs.mappings().counts().hits == 1);
    CHECK(blobs.mappings().counts().watched == (watched ? 1 : 0));

    // Corrupted in place: the change shows in the file's times, the bytes are
    // hashed as they are now, and the mapping is dropped.
    flip_byte(path, 777);
    auto bad = read();
    REQUIRE_FALSE(bad);
    CHECK(code_of(bad.error()) == ec::corrupt_blob);
    CHECK(describe(bad.error()).find(id.to_hex()) != std::string::npos);
    flip_byte(path, 777);
    REQUIRE(read());
    REQUIRE(read());

    // Truncated under a kept mapping: an error, not a SIGBUS from touching
    // mapped pages past the new end.
    auto whole = fs::file_size(path);
    fs::resize_file(path, 1000);
    auto cut = read();
    REQUIRE_FALSE(cut);
    CHECK(code_of(cut.error()) == ec::corrupt_blob);

    // Replaced by a good copy (a new inode): mapped anew.
    fs::resize_file(path, whole);
    fs::remove(path);
    auto again = fresh.put_ramp(spec);
    REQUIRE(again == id);
    auto mapped = blobs.mappings().counts().mapped;
    REQUIRE(read());
    REQUIRE(read());
    CHECK(blobs.mappings().counts().mapped == mapped + 1);
    auto want = ramp(static_cast<size_t>(spec.elements()));
    CHECK(std::memcmp(buf.data(), want.data(), spec.bytes()) == 0);

    // Its folder replaced by a copy (a restore): the new folder's file is read.
    auto folder = fs::path{path}.parent_path();
    fs::copy(folder, folder.string() + ".copy");
    fs::rename(folder, folder.string() + ".old");
    fs::rename(folder.string() + ".copy", folder);
    flip_byte(path, 5); // only the new file is corrupt
    auto in_copy = read();
    REQUIRE_FALSE(in_copy);
    CHECK(code_of(in_copy.error()) == ec::corrupt_blob);
    flip_byte(path, 5);
    REQUIRE(read());
    REQUIRE(read());
    fs::remove_all(folder.string() + ".old");

    // Removed: unknown, though a mapping of the old file was kept.
    fs::remove(path);
    auto gone = read();
    REQUIRE_FALSE(gone);
    CHECK(code_of(gone.error()) == ec::unknown_blob);
    CHECK(blobs.mappings().counts().mappings == 0);
  }

  TEST_CASE("open() reads from a kept mapping of the file as it is now, else from the file") {
    fresh_store fresh;
    auto& blobs = fresh.st.blobs();
    tensor_spec spec{dtype::float32, {300, 1000}};
    auto id = fresh.put_ramp(spec);
    auto path = blobs.path_of(id);
    auto want = ramp(static_cast<size_t>(spec.elements()));
    // Reads the data in two chunks, as the staging path does, and checks it.
    auto read_whole = [&](const store::blob_file& f) {
      std::vector<float> got(want.size(), 0.0f);
      auto* dst = reinterpret_cast<std::byte*>(got.data());
      uint64_t half = spec.bytes() / 2;
      REQUIRE_FALSE(f.read_data(dst, half, 0));
      REQUIRE_FALSE(f.read_data(dst + half, spec.bytes() - half, half));
      CHECK(got == want);
      CHECK(f.read_data(dst, 8, spec.bytes() - 4)); // past the end: an error
    };
    // Nothing kept yet: the file is opened, and its mapping kept once read whole.
    auto first = blobs.open(id);
    REQUIRE(first);
    CHECK_FALSE(first->mapped());
    CHECK(first->header().spec == spec);
    read_whole(*first);
    blobs.keep_mapped(id, *first);
    CHECK(blobs.mappings().counts().mappings == 1);
    auto hits = blobs.mappings().counts().hits;
    auto again = blobs.open(id);
    REQUIRE(again);
    CHECK(again->mapped());
    CHECK(again->header().spec == spec);
    read_whole(*again);
    CHECK(blobs.mappings().counts().hits == hits + 1);
    // Truncated while a reader holds the mapping (after its check): reading
    // the pages past the new end is an error naming the file, not a SIGBUS.
    auto held = blobs.open(id);
    REQUIRE(held);
    REQUIRE(held->mapped());
    auto whole = fs::file_size(path);
    fs::resize_file(path, 1000);
    std::vector<std::byte> tail(spec.bytes() / 2);
    auto err = held->read_data(tail.data(), tail.size(), spec.bytes() - tail.size());
    REQUIRE(err);
    CHECK(code_of(err) == ec::corrupt_blob);
    CHECK(describe(err).find("truncated") != std::string::npos);
    // Opened again: the kept mapping is not of the file that is there now,
    // and the file itself is found too short.
    auto cut = blobs.open(id);
    REQUIRE_FALSE(cut);
    CHECK(code_of(cut.error()) == ec::corrupt_blob);
    fs::resize_file(path, whole);
    fs::remove(path);
    auto gone = blobs.open(id);
    REQUIRE_FALSE(gone);
    CHECK(code_of(gone.error()) == ec::unknown_blob);
  }

  TEST_CASE("kept mappings stay within their capacity, least recently used out first") {
    fresh_store fresh;
    auto& blobs = fresh.st.blobs();
    std::vector<content_id> ids;
    std::vector<tensor_spec> specs;
    for (int i = 0; i < 3; ++i) {
      specs.push_back(tensor_spec{dtype::float32, {128 + i, 256}});
      ids.push_back(fresh.put_ramp(specs.back()));
    }
    auto file_bytes = [&](size_t i) { return specs[i].bytes() + store::blob_field_bytes; };
    blobs.mappings().set_capacity(file_bytes(1) + file_bytes(2));
    std::vector<std::byte> buf(specs[2].bytes());
    for (size_t i : {0, 1, 0, 2}) // 2 pushes out 1, the least recently used
      REQUIRE(blobs.read_into(ids[i], buf.data(), specs[i].bytes(), true));
    auto c = blobs.mappings().counts();
    CHECK(c.mappings == 2);
    CHECK(c.mapped_bytes == file_bytes(0) + file_bytes(2));
    CHECK(c.mapped_bytes <= blobs.mappings().capacity());
    REQUIRE(blobs.read_into(ids[0], buf.data(), specs[0].bytes(), true));
    REQUIRE(blobs.read_into(ids[2], buf.data(), specs[2].bytes(), true));
    CHECK(blobs.mappings().counts().hits == c.hits + 2);
    // Capacity 0: nothing is kept, and reads go on through pread.
    blobs.mappings().set_capacity(0);
    CHECK(blobs.mappings().counts().mappings == 0);
    REQUIRE(blobs.read_into(ids[1], buf.data(), specs[1].bytes(), true));
    CHECK(blobs.mappings().counts().mappings == 0);
  }

  TEST_CASE("manifests are checked against the store before they are stored") {
    fresh_store fresh;
    auto* st = &fresh.st;
    tensor_spec spec{dtype::float32, {4, 4}};
    auto id = std::optional<content_id>{fresh.put_ramp(spec)};
    auto m = model_using(*st, *id, spec);
    m.nodes[0].params[0].blob = content_id{7, 7};
    auto err = st->add_model(m);
    CHECK(code_of(err) == ec::unknown_blob);
    CHECK(describe(err).find("model \"user-model\"") != std::string::npos);
    CHECK(describe(err).find("nodes[0].params[0]") != std::string::npos);
    m = model_using(*st, *id, spec);
    m.nodes[0].params[0].spec.shape = {2, 8};
    CHECK(code_of(st->add_model(m)) == ec::shape_mismatch);
    m = model_using(*st, *id, spec);
    m.nodes[0].skeleton = content_id{9, 9};
    CHECK(code_of(st->add_model(m)) == ec::unknown_skeleton);
    CHECK(code_of(test::error_of(st->manifests().get("user-model"))) == ec::unknown_model);
  }

  TEST_CASE("versions: the latest is the default, each can be asked for") {
    fresh_store fresh;
    auto* st = &fresh.st;
    tensor_spec spec{dtype::float32, {4, 4}};
    auto id = std::optional<content_id>{fresh.put_ramp(spec)};
    auto m = model_using(*st, *id, spec);
    REQUIRE_FALSE(st->add_model(m));
    m.version = 3;
    REQUIRE_FALSE(st->add_model(m));
    CHECK(st->manifests().versions("user-model") == std::vector<uint32_t>{1, 3});
    CHECK(st->manifests().get("user-model")->version == 3);
    CHECK(st->manifests().get("user-model", 1)->version == 1);
    CHECK(code_of(test::error_of(st->manifests().get("user-model", 2))) == ec::unknown_model);
    m.name = "../escape";
    CHECK(code_of(st->add_model(m)) == ec::bad_manifest);
  }

  TEST_CASE("a skeleton's kept graph is for one runtime, checked by hash, removed with it") {
    fresh_store fresh;
    auto& sk = fresh.st.skeletons();
    auto id =
        sk.put(store::skeleton_kind::script, "def forward(x: Tensor) -> Tensor:\n  return x\n");
    REQUIRE(id);
    CHECK_FALSE(sk.get_graph(*id, "rt-1")->has_value());
    REQUIRE_FALSE(sk.put_graph(*id, "rt-1", "graph(%x : Tensor):\n  return (%x)\n"));
    CHECK(sk.get_graph(*id, "rt-1")->value() == "graph(%x : Tensor):\n  return (%x)\n");
    CHECK_FALSE(sk.get_graph(*id, "rt-2")->has_value());
    CHECK(code_of(sk.put_graph(*id, "rt 1", "g")) == ec::invalid_argument);
    CHECK(sk.list() == std::vector<content_id>{*id}); // a graph is not a skeleton
    REQUIRE_FALSE(sk.remove(*id));
    CHECK(count_files(fresh.dir.path() + "/skeletons", ".graph") == 0);
  }
}
