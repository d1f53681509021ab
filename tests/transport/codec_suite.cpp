// Round trips of every operation's request and reply through the codec, and of every
// error code through an error reply.
#include "error_of.hpp"
#include "tessera/core/error.hpp"
#include "tessera/transport/codec.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace tessera;
using namespace tessera::transport;

namespace {

template <class T>
T request_round_trip(T body) {
  auto frames = encode_request(request{"req-7", std::move(body)});
  REQUIRE(frames);
  auto out = decode_request(std::move(*frames));
  REQUIRE_MESSAGE(out.value, test::why(out.value));
  CHECK(out.id == "req-7");
  auto* typed = std::get_if<T>(&*out.value);
  REQUIRE(typed != nullptr);
  return *typed;
}

template <class T>
T response_round_trip(T body) {
  auto frames = encode_response("resp-3", response_body{std::move(body)});
  REQUIRE(frames);
  auto out = decode_response(std::move(*frames));
  REQUIRE_MESSAGE(out.value, test::why(out.value));
  CHECK(out.id == "resp-3");
  auto* typed = std::get_if<T>(&*out.value);
  REQUIRE(typed != nullptr);
  return *typed;
}

bool same_bytes(const tensor_buffer& a, const tensor_buffer& b) {
  return a.spec == b.spec && a.bytes == b.bytes && std::memcmp(a.data, b.data, a.bytes) == 0;
}

} // namespace

TEST_SUITE("codec") {

  TEST_CASE("infer requests keep every field") {
    infer_request r;
    r.model_name = "resnet18";
    r.model_version = 2;
    r.inputs.push_back({"image", random_tensor({dtype::float32, {1, 3, 8, 8}}, 1)});
    r.inputs.push_back({"mask", random_tensor({dtype::boolean, {4}}, 2)});
    r.inputs.push_back({"ids", random_tensor({dtype::int64, {1, 20000}}, 3)}); // framed
    r.outputs = {"logits", "features"};
    r.parameters = {{"flag", true}, {"count", int64_t{-4}}, {"scale", 0.5}, {"tag", "a"}};
    r.deadline_ms = 250;
    r.priority = 3;
    auto out = request_round_trip(r);
    CHECK(out.model_name == "resnet18");
    CHECK(out.model_version == 2);
    REQUIRE(out.inputs.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      CHECK(out.inputs[i].name == r.inputs[i].name);
      CHECK(same_bytes(out.inputs[i].tensor, r.inputs[i].tensor));
    }
    CHECK(out.outputs == r.outputs);
    CHECK(out.parameters == r.parameters);
    CHECK(out.deadline_ms == 250);
    CHECK(out.priority == 3);
  }

  TEST_CASE("infer requests leave optional fields unset") {
    infer_request r;
    r.model_name = "tiny";
    r.inputs.push_back({"x", random_tensor({dtype::float16, {2}}, 4)});
    auto out = request_round_trip(r);
    CHECK_FALSE(out.model_version.has_value());
    CHECK_FALSE(out.deadline_ms.has_value());
    CHECK(out.outputs.empty());
    CHECK(out.parameters.empty());
    CHECK(out.priority == 0);
    CHECK(out.inputs[0].tensor.spec.type == dtype::float16);
  }

  TEST_CASE("model management requests") {
    auto load = request_round_trip(model_load_request{"bert", 3, {{"pin", true}}});
    CHECK(load.model_name == "bert");
    CHECK(load.model_version == 3);
    CHECK(load.parameters.at("pin") == parameter_value{true});
    auto unload = request_round_trip(model_unload_request{"bert", std::nullopt});
    CHECK(unload.model_name == "bert");
    CHECK_FALSE(unload.model_version);
    auto ready = request_round_trip(model_ready_request{"bert", 1});
    CHECK(ready.model_version == 1);
    auto fuse = request_round_trip(fuse_request{"vision", {"resnet18", "resnet34:2"}});
    CHECK(fuse.group_name == "vision");
    CHECK(fuse.models == std::vector<std::string>{"resnet18", "resnet34:2"});
    CHECK_FALSE(fuse.local_only);
    CHECK(request_round_trip(fuse_request{"vision", {"a", "b"}, true}).local_only);
  }

  TEST_CASE("server requests") {
    CHECK(request_round_trip(repository_index_request{true}).ready_only);
    CHECK_FALSE(request_round_trip(repository_index_request{false}).ready_only);
    request_round_trip(server_status_request{});
    CHECK(request_round_trip(health_request{health_probe::live}).probe == health_probe::live);
    CHECK(request_round_trip(health_request{health_probe::ready}).probe == health_probe::ready);
    CHECK_FALSE(request_round_trip(metadata_request{}).model_name);
    auto meta = request_round_trip(metadata_request{"bert", 2});
    CHECK(meta.model_name == "bert");
    CHECK(meta.model_version == 2);
  }

  TEST_CASE("infer replies carry outputs and parameters") {
    infer_response r;
    r.model_name = "resnet18";
    r.model_version = 1;
    r.outputs.push_back({"logits", random_tensor({dtype::float32, {1, 1000}}, 5)});
    r.outputs.push_back({"big", random_tensor({dtype::float32, {1, 64, 32, 32}}, 6)});
    r.parameters = {{"compute_us", int64_t{1200}}};
    auto out = response_round_trip(r);
    CHECK(out.model_name == "resnet18");
    CHECK(out.model_version == 1);
    REQUIRE(out.outputs.size() == 2);
    CHECK(same_bytes(out.outputs[0].tensor, r.outputs[0].tensor));
    CHECK(same_bytes(out.outputs[1].tensor, r.outputs[1].tensor));
    CHECK(out.parameters == r.parameters);
  }

  TEST_CASE("model management replies") {
    auto load = response_round_trip(model_load_response{"bert", 2, 1000, 24000});
    CHECK(load.loaded_bytes == 1000);
    CHECK(load.reused_bytes == 24000);
    CHECK(response_round_trip(model_unload_response{"bert", 2}).model_version == 2);
    CHECK(response_round_trip(model_ready_response{"bert", std::nullopt, true, "ready", ""}).ready);
    auto failed = response_round_trip(
        model_ready_response{"bert", 1, false, "failed", "corrupt_blob: blob 12ab"});
    CHECK_FALSE(failed.ready);
    CHECK(failed.state == "failed");
    CHECK(failed.reason == "corrupt_blob: blob 12ab");
    CHECK(response_round_trip(model_ready_response{"bert", 1, false, "", ""}).state.empty());
    auto fuse = response_round_trip(fuse_response{"g", {"a", "b"}, 7, {}});
    CHECK(fuse.models.size() == 2);
    CHECK(fuse.shared_blocks == 7);
    CHECK(fuse.not_defined_on.empty());
    auto partial = response_round_trip(
        fuse_response{"g", {"a", "b"}, 7, {"tcp://10.0.0.2:7000: unavailable"}});
    CHECK(partial.not_defined_on == std::vector<std::string>{"tcp://10.0.0.2:7000: unavailable"});
  }

  TEST_CASE("server replies") {
    repository_index_response index;
    index.models = {{"a", 1, "ready", ""}, {"b", std::nullopt, "unloaded", "not loaded yet"}};
    auto idx = response_round_trip(index);
    REQUIRE(idx.models.size() == 2);
    CHECK(idx.models[0].version == 1);
    CHECK(idx.models[1].reason == "not loaded yet");
    CHECK_FALSE(idx.models[1].version);

    server_status_response status;
    status.node_name = "box1";
    status.uptime_ms = 5000;
    status.requests_in_flight = 2;
    status.requests_served = 99;
    status.nodes = {{"box1", "up"}, {"box2", "down"}};
    status.devices = {{"box1/cpu", 100, 1000}};
    status.requests_queued = 3;
    status.executors = {{"box1/cpu/0", {"resnet18:1", "vgg:2"}, 40}, {"tcp://box2:5555", {}, 0}};
    auto st = response_round_trip(status);
    CHECK(st.requests_queued == 3);
    REQUIRE(st.executors.size() == 2);
    CHECK(st.executors[0].models == status.executors[0].models);
    CHECK(st.executors[0].served == 40);
    CHECK(st.executors[1].name == "tcp://box2:5555");
    CHECK(st.node_name == "box1");
    CHECK(st.requests_served == 99);
    REQUIRE(st.nodes.size() == 2);
    CHECK(st.nodes[1].state == "down");
    REQUIRE(st.devices.size() == 1);
    CHECK(st.devices[0].budget_bytes == 1000);
    CHECK_FALSE(st.host_memory); // absent, as in older nodes' replies
    status.host_memory = host_memory_entry{64, 60, 10, 20, 25, 5, 6'000'000'000};
    auto with_host = response_round_trip(status);
    REQUIRE(with_host.host_memory);
    CHECK(with_host.host_memory->budget_bytes == 64);
    CHECK(with_host.host_memory->total_bytes == 60);
    CHECK(with_host.host_memory->mapped_files_bytes == 10);
    CHECK(with_host.host_memory->kept_device_bytes == 20);
    CHECK(with_host.host_memory->kept_blocks_bytes == 25);
    CHECK(with_host.host_memory->request_buffers_bytes == 5);
    CHECK(with_host.host_memory->trimmed_bytes == 6'000'000'000);

    auto health = response_round_trip(health_response{true, false});
    CHECK(health.live);
    CHECK_FALSE(health.ready);

    metadata_response server_meta;
    server_meta.name = "tessera";
    server_meta.version = "0.1.0";
    server_meta.extensions = {"fuse"};
    auto sm = response_round_trip(server_meta);
    CHECK(sm.version == "0.1.0");
    CHECK(sm.extensions == server_meta.extensions);

    metadata_response model_meta;
    model_meta.name = "resnet18";
    model_meta.versions = {"1", "2"};
    model_meta.platform = "tessera_blocks";
    model_meta.inputs = {{"image", {dtype::float32, {-1, 3, 224, 224}}}};
    model_meta.outputs = {{"logits", {dtype::float32, {-1, 1000}}}};
    auto mm = response_round_trip(model_meta);
    CHECK(mm.platform == "tessera_blocks");
    REQUIRE(mm.inputs.size() == 1);
    CHECK(mm.inputs[0].spec == model_meta.inputs[0].spec);
    CHECK(mm.outputs[0].name == "logits");
  }

  TEST_CASE("server_status carries each executor's stream figures, and leaves them out for "
            "the others") {
    stream_entry figures;
    figures.runs = 3;
    figures.failed_runs = 1;
    figures.blocks = 33;
    figures.blobs_read = 70;
    figures.bytes_read = 5'000'000'000; // beyond 32 bits
    figures.copies = 69;
    figures.bytes_copied = 4'999'000'000;
    figures.waited_blocks = 4;
    figures.wait_us = 12'345;
    figures.compute_us = 67'890;
    figures.forced_blocks = 2;
    figures.trimmed_blocks = 5;
    figures.peak_held_bytes = 20'000'000;
    figures.budget_bytes = 24'000'000;
    figures.last_share_bytes = 12'000'000;
    figures.last_window_blocks = 3;
    server_status_response status;
    status.executors.push_back({"box1/cpu/0", {}, 4, {"resnet18:1", "group:pair"}, figures});
    status.executors.push_back({"box1/cpu/1", {"vgg:2"}, 9});
    auto st = response_round_trip(status);
    REQUIRE(st.executors.size() == 2);
    CHECK(st.executors[0].streamed == status.executors[0].streamed);
    REQUIRE(st.executors[0].stream);
    const auto& s = *st.executors[0].stream;
    CHECK(s.runs == 3);
    CHECK(s.failed_runs == 1);
    CHECK(s.blocks == 33);
    CHECK(s.blobs_read == 70);
    CHECK(s.bytes_read == 5'000'000'000);
    CHECK(s.copies == 69);
    CHECK(s.bytes_copied == 4'999'000'000);
    CHECK(s.waited_blocks == 4);
    CHECK(s.wait_us == 12'345);
    CHECK(s.compute_us == 67'890);
    CHECK(s.forced_blocks == 2);
    CHECK(s.trimmed_blocks == 5);
    CHECK(s.peak_held_bytes == 20'000'000);
    CHECK(s.budget_bytes == 24'000'000);
    CHECK(s.last_share_bytes == 12'000'000);
    CHECK(s.last_window_blocks == 3);
    // An executor that streamed nothing carries no figures (nor does an older
    // node's reply): absent, not zeros.
    CHECK(st.executors[1].streamed.empty());
    CHECK_FALSE(st.executors[1].stream);
    CHECK(st.executors[1].models == status.executors[1].models);
  }

  TEST_CASE("every error code survives an error reply") {
    for (int code = 1; code <= static_cast<int>(ec::unloading); ++code) {
      auto err = make_error(static_cast<ec>(code), "context " + std::to_string(code));
      auto out = decode_response(encode_error_response("e" + std::to_string(code), err));
      CHECK(out.id == "e" + std::to_string(code));
      REQUIRE_FALSE(out.value);
      CHECK(code_of(out.value.error()) == static_cast<ec>(code));
      CHECK(describe(out.value.error()) == describe(err));
    }
  }

  TEST_CASE("encoding refuses tensors whose bytes do not match their spec") {
    infer_request r;
    r.model_name = "m";
    auto t = random_tensor({dtype::float32, {4}}, 1);
    t.bytes = 12;
    r.inputs.push_back({"x", t});
    auto frames = encode_request(request{"a", r});
    REQUIRE_FALSE(frames);
    CHECK(code_of(frames.error()) == ec::invalid_argument);
    CHECK(describe(frames.error()).find("inputs[0].data") != std::string::npos);
  }

  TEST_CASE("node-to-node fetches: blob ids, skeleton ids and model names travel") {
    content_id blob{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
    CHECK(request_round_trip(fetch_blob_request{blob}).blob_id == blob);
    content_id skeleton{7, 9};
    CHECK(request_round_trip(fetch_skeleton_request{skeleton}).skeleton_id == skeleton);
    auto manifest = request_round_trip(fetch_manifest_request{"resnet18", 2});
    CHECK(manifest.model_name == "resnet18");
    CHECK(manifest.model_version == 2);
    CHECK_FALSE(request_round_trip(fetch_manifest_request{"resnet18", std::nullopt}).model_version);
  }

  TEST_CASE("fetched blobs large and small keep their bytes; a large one has its own frame") {
    for (std::vector<int64_t> shape :
         {std::vector<int64_t>{3, 5}, std::vector<int64_t>{64, 3, 7, 7}}) {
      auto t = random_tensor({dtype::float32, shape}, 11);
      auto id = blob_id_of(t.spec, t.data, t.bytes);
      fetch_blob_response r{{id.to_hex(), t}};
      auto frames = encode_response("b1", response_body{r});
      REQUIRE(frames);
      CHECK(frames->size() == (t.bytes >= codec_limits{}.frame_threshold_bytes ? 2u : 1u));
      auto out = response_round_trip(r);
      CHECK(out.blob.name == id.to_hex());
      CHECK(same_bytes(out.blob.tensor, t));
      CHECK(blob_id_of(out.blob.tensor.spec, out.blob.tensor.data, out.blob.tensor.bytes) == id);
    }
  }

  TEST_CASE("fetched skeletons and manifests keep their bytes, beyond the string limit") {
    std::string code(10000, 'x');
    code[17] = '\0'; // bytes, not text
    auto sk = response_round_trip(fetch_skeleton_response{{1, 2}, "module", code});
    CHECK(sk.skeleton_id == content_id{1, 2});
    CHECK(sk.kind == "module");
    CHECK(sk.data == code);
    std::string json = "{\"name\": \"m\"," + std::string(8000, ' ') + "}";
    auto m = response_round_trip(fetch_manifest_response{"m", 3, json});
    CHECK(m.model_name == "m");
    CHECK(m.model_version == 3);
    CHECK(m.manifest == json);
  }

  TEST_CASE("operation names parse back") {
    for (size_t i = 0; i < operation_count; ++i) {
      auto op = static_cast<operation>(i);
      auto parsed = parse_operation(to_string(op));
      REQUIRE(parsed);
      CHECK(*parsed == op);
    }
    CHECK(code_of(test::error_of(parse_operation("explode"))) == ec::unknown_operation);
  }

} // TEST_SUITE
