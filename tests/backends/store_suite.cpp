#include "scratch_dir.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/block_store.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include <sys/wait.h>
#include <unistd.h>

using namespace tessera;
namespace fs = std::filesystem;

namespace {

std::vector<float> ramp(size_t n, float scale = 1.0f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = scale * static_cast<float>(i % 1000) - 3.0f;
  return v;
}

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

// A one-node model over `blob` so that blobs have a user with a name.
model_manifest model_using(const store::block_store& st, const content_id& blob, const tensor_spec& spec) {
  auto sk = st.skeletons().put(store::skeleton_kind::script,
                               "def forward(x: Tensor, w: Tensor) -> Tensor:\n    return x\n");
  model_manifest m;
  m.name = "user-model";
  m.inputs = {{"x", {dtype::float32, {-1, 4}}, ""}};
  m.outputs = {{"y", {dtype::float32, {-1, 4}}, "n"}};
  m.nodes = {{"n", *sk, {{"w", blob, spec}}, {"x"}, std::nullopt}};
  return m;
}

// A fresh store in its own scratch folder.
struct fresh_store {
  test::scratch_dir dir{"store"};
  store::block_store st = open(dir.path());

  static store::block_store open(const std::string& path) {
    auto s = store::block_store::open(path);
    REQUIRE(s);
    return std::move(*s);
  }

  // Stores ramp values of `spec` and returns their id.
  content_id put_ramp(const tensor_spec& spec) {
    auto data = ramp(static_cast<size_t>(spec.elements()));
    auto id = st.blobs().put(spec, data.data());
    REQUIRE(id);
    return *id;
  }
};

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
    CHECK(code_of(st->blobs().read(id, store::read_method::map).error()) == ec::unknown_blob);
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
    flip_byte(st->blobs().path_of(*id), store::blob_header_bytes + 1234);
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
    fs::resize_file(st->blobs().path_of(*id), store::blob_header_bytes + 100);
    CHECK(code_of(st->blobs().read(*id, store::read_method::map).error()) == ec::corrupt_blob);
    std::ofstream{st->blobs().path_of(*id), std::ios::trunc} << "hello";
    CHECK(code_of(st->blobs().read(*id, store::read_method::copy).error()) == ec::corrupt_blob);
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
    CHECK(code_of(st->manifests().get("user-model").error()) == ec::unknown_model);
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
    CHECK(code_of(st->manifests().get("user-model", 2).error()) == ec::unknown_model);
    m.name = "../escape";
    CHECK(code_of(st->add_model(m)) == ec::bad_manifest);
  }
}
