// Peer fetch: nodes in one process, talking over inproc:// on a shared ZeroMQ
// context. Node A holds the small zoo; node B's store lacks some or all of a
// model, and B's loader fetches what it lacks from A (or from whichever peer
// has it) before B runs the model with LibTorch. Outputs are compared with A's
// bit for bit, fetched parts are re-hashed in B's store, and the loaders'
// counters show one fetch per blob however many requests wanted it.
#include "blob_damage.hpp"
#include "node_fixture.hpp"
#include "why.hpp"

#include "tessera/transport/codec.hpp"

#include <zmq_addon.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace fs = std::filesystem;

namespace {

zmq::context_t& shared_ctx() {
  static zmq::context_t ctx{1};
  return ctx;
}

std::string next_endpoint(const std::string& tag) {
  static std::atomic<int> n{0};
  return "inproc://peer-fetch-" + tag + "-" + std::to_string(n++);
}

// A store of the test's own: a copy of the zoo's, or empty.
struct own_store {
  scratch_dir dir{"fetch-store"};
  std::optional<store::block_store> store;

  explicit own_store(bool copy_zoo) {
    if (copy_zoo)
      fs::copy(small_zoo::get().dir->path(), dir.path(), fs::copy_options::recursive);
    auto st = store::block_store::open(dir.path(), true);
    REQUIRE(st);
    store.emplace(std::move(*st));
  }

  void remove_blob(const content_id& id) {
    REQUIRE(fs::remove(store->blobs().path_of(id)));
  }

  void remove_model(const model_manifest& m) {
    REQUIRE_FALSE(store->manifests().remove(m.name, m.version));
  }
};

std::unique_ptr<actors::node> start_peer_node(const std::string& store_path,
                                              const std::string& name,
                                              std::vector<std::string> fetch_peers = {},
                                              uint64_t fetch_timeout_ms = 10000) {
  node_config cfg = node_config_for(small_zoo::get());
  cfg.store_path = store_path;
  cfg.node_name = name;
  cfg.listen = next_endpoint(name);
  cfg.fetch_peers = std::move(fetch_peers);
  cfg.fetch_timeout_ms = fetch_timeout_ms;
  auto n = actors::node::start(cfg, &shared_ctx());
  REQUIRE_MESSAGE(n, test::why(n));
  return std::move(*n);
}

// Waits until the node's loader sees `count` of its fetch peers up.
void wait_for_fetch_peers(const actors::node& n, size_t count) {
  for (int i = 0; i < 500; ++i) {
    auto peers = n.fetch_peers();
    if (static_cast<size_t>(
            std::count_if(peers.begin(), peers.end(), [](const auto& p) { return p.up; })) >= count)
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("fetch peers did not come up");
}

client client_of(const actors::node& n) {
  auto cl = client::connect(shared_ctx(), n.endpoint());
  REQUIRE(cl);
  return std::move(*cl);
}

caf::expected<infer_response> infer_on(const actors::node& n, const model_manifest& m,
                                       uint64_t seed) {
  return client_of(n).call_as<infer_response>({"", infer_for(m, 1, seed)}, reply_timeout);
}

void check_same_outputs(const infer_response& a, const infer_response& b) {
  REQUIRE(a.outputs.size() == b.outputs.size());
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    const auto& x = a.outputs[i].tensor;
    const auto& y = b.outputs[i].tensor;
    CHECK(a.outputs[i].name == b.outputs[i].name);
    REQUIRE(x.spec == y.spec);
    CHECK(std::memcmp(x.data, y.data, x.bytes) == 0);
  }
}

// Every part of `m` is in `st` and hashes to its id; the manifest is there too.
void check_complete(const store::block_store& st, const model_manifest& m) {
  auto stored = st.manifests().get(m.name, m.version);
  REQUIRE_MESSAGE(stored, test::why(stored));
  CHECK(model_ref(*stored) == model_ref(m));
  for (const auto& [id, bytes] : unique_blobs(m)) {
    auto err = st.blobs().verify(id);
    CHECK_MESSAGE(!err, describe(err));
  }
  for (const auto& node : m.nodes)
    CHECK(st.skeletons().get(node.skeleton));
  CHECK_FALSE(st.check_manifest(m));
}

size_t files_in(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::directory_iterator{dir, ec}; !ec && it != fs::directory_iterator{}; ++it)
    ++n;
  return n;
}

// Node A serves the store at `source`; node B's store, a copy of the zoo's,
// lacks `victim`, and B fetches from A.
struct lacking_pair {
  std::unique_ptr<actors::node> a;
  own_store lacking{true};
  std::unique_ptr<actors::node> b;

  lacking_pair(const std::string& source, const content_id& victim) {
    a = start_peer_node(source, "a");
    lacking.remove_blob(victim);
    b = start_peer_node(lacking.dir.path(), "b", {a->endpoint()});
    wait_for_fetch_peers(*b, 1);
  }

  // The error of an infer on B, which must fail.
  caf::error failed_infer(const model_manifest& m) {
    auto r = infer_on(*b, m, 3);
    REQUIRE_FALSE(r);
    return r.error();
  }
};

// A peer that answers its heartbeats and nothing else: its fetches time out.
class silent_peer {
public:
  silent_peer()
      : endpoint_(next_endpoint("silent")), socket_(shared_ctx(), zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind(endpoint_);
    thread_ = std::thread{[this] { run(); }};
  }
  ~silent_peer() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const {
    return endpoint_;
  }
  size_t ignored() const {
    return ignored_.load();
  }

private:
  void run() {
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if ((item.revents & ZMQ_POLLIN) == 0)
        continue;
      frame_list frames;
      if (!zmq::recv_multipart(socket_, std::back_inserter(frames)))
        continue;
      auto routing = std::move(frames.front());
      frames.erase(frames.begin());
      auto req = decode_request(std::move(frames));
      if (!req.value || !std::holds_alternative<health_request>(*req.value)) {
        ++ignored_;
        continue;
      }
      auto reply = encode_response(req.id, health_response{true, true});
      frame_list out;
      out.push_back(std::move(routing));
      for (auto& f : *reply)
        out.push_back(std::move(f));
      zmq::send_multipart(socket_, out);
    }
  }

  std::string endpoint_;
  zmq::socket_t socket_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> ignored_{0};
  std::thread thread_;
};

} // namespace

TEST_SUITE("peer_fetch") {

  TEST_CASE("a node whose store lacks a model entirely serves it with its peer's parts") {
    const auto& zoo = small_zoo::get();
    const auto& m = zoo.manifest("mobilenetv2");
    auto a = start_peer_node(zoo.dir->path(), "a");
    own_store empty{false};
    auto b = start_peer_node(empty.dir.path(), "b", {a->endpoint()});
    wait_for_fetch_peers(*b, 1);
    auto on_b = infer_on(*b, m, 7);
    REQUIRE_MESSAGE(on_b, test::why(on_b));
    auto on_a = infer_on(*a, m, 7);
    REQUIRE_MESSAGE(on_a, test::why(on_a));
    check_same_outputs(*on_a, *on_b);
    check_complete(*empty.store, m);
    auto blobs = unique_blobs(m);
    CHECK(b->fetches().fetched_blobs == blobs.size());
    CHECK(b->fetches().fetched_bytes == parameter_bytes(m));
    CHECK(b->fetches().fetched_manifests == 1);
    std::set<content_id> skeletons;
    for (const auto& node : m.nodes)
      skeletons.insert(node.skeleton);
    CHECK(b->fetches().fetched_skeletons == skeletons.size());
    CHECK(a->fetches().served_blobs == blobs.size());
    CHECK(a->fetches().served_bytes == parameter_bytes(m));
    CHECK(files_in(empty.dir.path() + "/tmp") == 0);
    // Complete now: another request fetches nothing more.
    REQUIRE(infer_on(*b, m, 8));
    CHECK(b->fetches().fetched_blobs == blobs.size());
    auto text = b->metrics_text();
    CHECK(text.find("tessera_peer_fetched_parts_total{kind=\"blob\"} " +
                    std::to_string(blobs.size())) != std::string::npos);
  }

  TEST_CASE("concurrent requests for models that share blobs fetch each blob once") {
    const auto& zoo = small_zoo::get();
    const auto& base = zoo.manifest("resnet18");
    const auto& cars = zoo.manifest("resnet-cars");
    REQUIRE(shared_bytes(base, cars) > 0);
    auto a = start_peer_node(zoo.dir->path(), "a");
    // B has the manifests but none of their blobs.
    own_store partial{true};
    std::set<content_id> wanted;
    for (const auto* m : {&base, &cars})
      for (const auto& [id, bytes] : unique_blobs(*m))
        if (wanted.insert(id).second)
          partial.remove_blob(id);
    auto b = start_peer_node(partial.dir.path(), "b", {a->endpoint()});
    wait_for_fetch_peers(*b, 1);
    auto cl = client_of(*b);
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) {
      auto id = cl.send({"c" + std::to_string(i), infer_for(i % 2 == 0 ? base : cars, 1, 20 + i)},
                        reply_timeout);
      REQUIRE(id);
      ids.push_back(*id);
    }
    for (const auto& id : ids) {
      auto r = cl.wait_for(id, reply_timeout);
      CHECK_MESSAGE(r, (r ? "" : describe(r.error())));
    }
    CHECK(b->fetches().fetched_blobs == wanted.size());
    CHECK(a->fetches().served_blobs == wanted.size());
    CHECK(b->fetches().fetched_manifests == 0);
    check_complete(*partial.store, base);
    check_complete(*partial.store, cars);
  }

  TEST_CASE("a corrupt blob from a peer is refused by name and never stored") {
    const auto& zoo = small_zoo::get();
    const auto& m = zoo.manifest("mobilenetv2");
    auto victim = unique_blobs(m).back().first;
    own_store bad_source{true};
    {
      // Flip a data byte, keep the fields and size: only the hash can tell.
      std::fstream f{bad_source.store->blobs().path_of(victim),
                     std::ios::in | std::ios::out | std::ios::binary};
      REQUIRE(f);
      f.seekg(0); // the data comes first
      char c = 0;
      f.read(&c, 1);
      f.seekp(0);
      c = static_cast<char>(c ^ 0x40);
      f.write(&c, 1);
    }
    lacking_pair pair{bad_source.dir.path(), victim};
    auto err = pair.failed_infer(m);
    CHECK(code_of(err) == ec::corrupt_blob);
    auto text = describe(err);
    CHECK_MESSAGE(text.find(victim.to_hex()) != std::string::npos, text);
    CHECK_MESSAGE(text.find("mobilenetv2") != std::string::npos, text);
    CHECK_FALSE(pair.lacking.store->blobs().contains(victim));
    CHECK(files_in(pair.lacking.dir.path() + "/tmp") == 0);
    CHECK(pair.b->fetches().fetched_blobs == 0);
    CHECK(pair.b->fetches().fetch_failures == 1);
  }

  TEST_CASE("when no peer has a blob the error names the blob and the model") {
    const auto& zoo = small_zoo::get();
    const auto& m = zoo.manifest("mobilenetv2");
    auto victim = unique_blobs(m).front().first;
    own_store source{true};
    source.remove_blob(victim);
    lacking_pair pair{source.dir.path(), victim};
    auto err = pair.failed_infer(m);
    CHECK(code_of(err) == ec::unknown_blob);
    auto text = describe(err);
    CHECK_MESSAGE(text.find(victim.to_hex()) != std::string::npos, text);
    CHECK_MESSAGE(text.find("model " + model_ref(m)) != std::string::npos, text);
    CHECK_MESSAGE(text.find("node a") != std::string::npos, text);
    // A model no peer knows is unknown by name.
    auto missing = client_of(*pair.b).call_as<model_load_response>(
        {"", model_load_request{"no-such-model", std::nullopt, {}}}, reply_timeout);
    REQUIRE_FALSE(missing);
    CHECK(code_of(missing.error()) == ec::unknown_model);
    CHECK(describe(missing.error()).find("no-such-model") != std::string::npos);
  }

  TEST_CASE("dead, lacking and silent peers are skipped for one that has the blob") {
    const auto& zoo = small_zoo::get();
    const auto& m = zoo.manifest("mobilenetv2");
    auto victim = unique_blobs(m).front().first;
    own_store source{true};
    source.remove_blob(victim);
    auto lacking_peer = start_peer_node(source.dir.path(), "lacking");
    auto good = start_peer_node(zoo.dir->path(), "good");
    silent_peer silent;
    own_store lacking{true};
    lacking.remove_blob(victim);
    auto b = start_peer_node(lacking.dir.path(), "b",
                             {"inproc://peer-fetch-nobody", silent.endpoint(),
                              lacking_peer->endpoint(), good->endpoint()},
                             300);
    wait_for_fetch_peers(*b, 3);
    auto r = infer_on(*b, m, 5);
    REQUIRE_MESSAGE(r, test::why(r));
    auto on_good = infer_on(*good, m, 5);
    REQUIRE(on_good);
    check_same_outputs(*on_good, *r);
    CHECK(lacking.store->blobs().verify(victim) == caf::error{});
    CHECK(b->fetches().fetched_blobs == 1);
    CHECK(b->fetches().fetch_failures == 2); // the silent peer timed out, the lacking one said so
    CHECK(silent.ignored() == 1);
    CHECK(good->fetches().served_blobs == 1);
    auto peers = b->fetch_peers();
    CHECK_FALSE(peers[0].up);
  }

  TEST_CASE("a peer's fetches are validated and answered with specific errors") {
    const auto& zoo = small_zoo::get();
    const auto& m = zoo.manifest("mobilenetv2");
    auto a = start_peer_node(zoo.dir->path(), "a");
    auto cl = client_of(*a);
    auto [id, bytes] = unique_blobs(m).front();
    auto blob = cl.call_as<fetch_blob_response>({"", fetch_blob_request{id}}, reply_timeout);
    REQUIRE_MESSAGE(blob, test::why(blob));
    CHECK(blob->blob.name == id.to_hex());
    CHECK(blob->blob.tensor.bytes == bytes);
    CHECK(blob_id_of(blob->blob.tensor.spec, blob->blob.tensor.data, blob->blob.tensor.bytes) ==
          id);
    auto none =
        cl.call_as<fetch_blob_response>({"", fetch_blob_request{content_id{1, 2}}}, reply_timeout);
    REQUIRE_FALSE(none);
    CHECK(code_of(none.error()) == ec::unknown_blob);
    CHECK(describe(none.error()).find(content_id{1, 2}.to_hex()) != std::string::npos);
    auto sk = cl.call_as<fetch_skeleton_response>({"", fetch_skeleton_request{content_id{1, 2}}},
                                                  reply_timeout);
    REQUIRE_FALSE(sk);
    CHECK(code_of(sk.error()) == ec::unknown_skeleton);
    auto manifest = cl.call_as<fetch_manifest_response>(
        {"", fetch_manifest_request{m.name, std::nullopt}}, reply_timeout);
    REQUIRE(manifest);
    CHECK(manifest->model_version == m.version);
    CHECK(manifest->manifest.find("\"" + m.name + "\"") != std::string::npos);
  }

  TEST_CASE("a blob file damaged on a running node is restored from a peer, and the node serves "
            "again") {
    // B holds a copy of the zoo and fetches from A. One of B's blob files is
    // damaged: that of a model B has loaded (in place, its mapping changes),
    // and that of a model B never loaded (its read does not verify).
    const auto& zoo = small_zoo::get();
    auto a = start_peer_node(zoo.dir->path(), "a");
    own_store copy{true};
    auto b = start_peer_node(copy.dir.path(), "b", {a->endpoint()});
    wait_for_fetch_peers(*b, 1);
    auto largest = [](const model_manifest& m) {
      auto blobs = unique_blobs(m);
      return std::max_element(blobs.begin(), blobs.end(),
                              [](const auto& x, const auto& y) { return x.second < y.second; })
          ->first;
    };
    for (const char* name : {"mobilenetv2", "vit-tiny"}) {
      CAPTURE(name);
      const auto& m = zoo.manifest(name);
      bool loaded = std::string{name} == "mobilenetv2";
      auto expected = infer_on(*a, m, 5);
      REQUIRE_MESSAGE(expected, test::why(expected));
      if (loaded)
        REQUIRE(infer_on(*b, m, 5));
      auto restored_before = b->fetches().restored_blobs.load();
      flip_data_byte(copy.store->blobs().path_of(largest(m)));
      // Never a wrong answer: until the file is good again, corrupt_blob.
      auto r = infer_on(*b, m, 5);
      if (r)
        check_same_outputs(*r, *expected);
      else
        CHECK(code_of(r.error()) == ec::corrupt_blob);
      for (int i = 0; i < 500 && b->fetches().restored_blobs == restored_before; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      REQUIRE(b->fetches().restored_blobs == restored_before + 1);
      CHECK_FALSE(copy.store->blobs().verify(largest(m)));
      auto again = infer_on(*b, m, 5);
      REQUIRE_MESSAGE(again, test::why(again));
      check_same_outputs(*again, *expected);
    }
    CHECK(b->fetches().restore_failures == 0);
    auto perms =
        fs::status(copy.store->blobs().path_of(largest(zoo.manifest("vit-tiny")))).permissions();
    CHECK((perms & fs::perms::owner_write) == fs::perms::none); // read-only again
  }

} // TEST_SUITE
