// Validation: every class of malformed input gets its specific code and a message
// naming the field, the id is recovered where the bytes allow, and random or
// damaged bytes never crash the decoder.
#include "why.hpp"
#include "wire_values.hpp"

#include "tessera/core/error.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace tessera;
using namespace tessera::test;
using namespace tessera::transport;

namespace {

struct failure {
  ec code;
  std::string message;
  std::string id;
};

failure fail_of(decoded<request_body> d) {
  REQUIRE_FALSE_MESSAGE(d.value, "decoded a message that should have been refused");
  return {code_of(d.value.error()), describe(d.value.error()), d.id};
}

failure fail_of(const wire_value& header, const codec_limits& limits = {}) {
  return fail_of(decode_request(frames_of({packed(header)}), limits));
}

void check_failure(const failure& f, ec code, const std::string& text) {
  CHECK_MESSAGE(f.code == code, f.message);
  CHECK_MESSAGE(f.message.find(text) != std::string::npos, f.message);
}

wire_value& first_input(wire_value& msg) {
  return msg["inputs"].at(0);
}

} // namespace

TEST_SUITE("validation") {

  TEST_CASE("the fixture's valid message decodes") {
    auto d = decode_request(frames_of({packed(valid_infer())}));
    REQUIRE_MESSAGE(d.value, test::why(d.value));
    CHECK(d.id == "r1");
  }

  TEST_CASE("bytes that are not MessagePack") {
    check_failure(fail_of(decode_request(frames_of({"\xc1"}))), ec::malformed_request,
                  "invalid MessagePack");
    check_failure(fail_of(decode_request(frames_of({""}))), ec::malformed_request, "truncated");
    check_failure(fail_of(decode_request(frame_list{})), ec::malformed_request, "no frames");
  }

  TEST_CASE("a truncated message still names its id") {
    auto bytes = packed(valid_infer());
    auto f = fail_of(decode_request(frames_of({bytes.substr(0, bytes.size() - 3)})));
    check_failure(f, ec::malformed_request, "truncated");
    CHECK(f.id == "r1");
  }

  TEST_CASE("trailing bytes after the header map") {
    check_failure(fail_of(decode_request(frames_of({packed(valid_infer()) + "\x01"}))),
                  ec::malformed_request, "1 bytes after the header map");
  }

  TEST_CASE("a header that is not a map") {
    check_failure(fail_of(wire_array{1, 2}), ec::malformed_request, "expected map, got array");
  }

  TEST_CASE("missing and mistyped envelope fields") {
    auto msg = valid_infer();
    msg.erase("op");
    check_failure(fail_of(msg), ec::malformed_request, "op: missing field");
    msg = valid_infer();
    msg["op"] = 5;
    check_failure(fail_of(msg), ec::malformed_request, "op: expected string, got integer");
    msg = valid_infer();
    msg.erase("id");
    check_failure(fail_of(msg), ec::malformed_request, "id: missing field");
    msg = valid_infer();
    msg["id"] = wire_array{};
    auto f = fail_of(msg);
    check_failure(f, ec::malformed_request, "id: expected string");
    CHECK(f.id.empty());
  }

  TEST_CASE("unknown operations") {
    auto msg = valid_infer();
    msg["op"] = "explode";
    auto f = fail_of(msg);
    check_failure(f, ec::unknown_operation, "\"explode\"");
    CHECK(f.id == "r1");
  }

  TEST_CASE("model fields") {
    auto msg = valid_infer();
    msg.erase("model_name");
    check_failure(fail_of(msg), ec::malformed_request, "model_name: missing field");
    msg = valid_infer();
    msg["model_name"] = 3;
    check_failure(fail_of(msg), ec::malformed_request, "model_name: expected string");
    msg = valid_infer();
    msg["model_name"] = " ";
    check_failure(fail_of(msg), ec::invalid_argument, "model_name: empty name");
    msg = valid_infer();
    msg["model_version"] = 0;
    check_failure(fail_of(msg), ec::invalid_argument, "model_version: 0 is not a version");
    msg = valid_infer();
    msg["model_version"] = "2";
    check_failure(fail_of(msg), ec::malformed_request, "model_version: expected integer");
  }

  TEST_CASE("tensor datatypes") {
    auto msg = valid_infer();
    first_input(msg)["datatype"] = "FP8";
    check_failure(fail_of(msg), ec::dtype_mismatch, "inputs[0].datatype: unknown datatype");
    msg = valid_infer();
    first_input(msg)["datatype"] = "float32"; // PyTorch names are accepted too
    CHECK(decode_request(frames_of({packed(msg)})).value);
  }

  TEST_CASE("tensor shapes") {
    auto msg = valid_infer();
    first_input(msg)["shape"] = wire_array{1, -3};
    check_failure(fail_of(msg), ec::invalid_argument, "inputs[0].shape[1]: negative dimension -3");
    msg = valid_infer();
    first_input(msg)["shape"] = wire_array{1, 1, 1, 1, 1, 1, 1, 1, 2};
    check_failure(fail_of(msg), ec::invalid_argument, "inputs[0].shape: rank 9 exceeds");
    msg = valid_infer();
    first_input(msg)["shape"] = wire_array{1 << 30, 1 << 30, 1 << 30};
    check_failure(fail_of(msg), ec::message_too_large, "inputs[0].shape");
    msg = valid_infer();
    first_input(msg)["shape"] = "1x2";
    check_failure(fail_of(msg), ec::malformed_request, "inputs[0].shape: expected array");
    msg = valid_infer();
    first_input(msg)["shape"] = wire_array{1, 2.5};
    check_failure(fail_of(msg), ec::malformed_request, "inputs[0].shape[1]: expected integer");
  }

  TEST_CASE("tensor data") {
    auto msg = valid_infer();
    first_input(msg)["data"] = wire_bin{std::string(7, '\0')};
    check_failure(fail_of(msg), ec::shape_mismatch,
                  "inputs[0].data: 7 bytes, but [1,2] of FP32 needs 8");
    msg = valid_infer();
    first_input(msg).erase("data");
    check_failure(fail_of(msg), ec::malformed_request, "inputs[0].data: missing field");
    msg = valid_infer();
    first_input(msg)["data"] = wire_array{1.0, 2.0};
    check_failure(fail_of(msg), ec::malformed_request, "inputs[0].data: expected bin");
  }

  TEST_CASE("frame references") {
    auto msg = valid_infer();
    first_input(msg)["data"] = wire_map{{"frame", 1}};
    check_failure(fail_of(msg), ec::malformed_request,
                  "inputs[0].data.frame: frame 1 does not exist");
    check_failure(fail_of(decode_request(frames_of({packed(msg), std::string(7, 'x')}))),
                  ec::shape_mismatch, "inputs[0].data");
    CHECK(decode_request(frames_of({packed(msg), std::string(8, 'x')})).value);
    first_input(msg)["data"] = wire_map{{"frame", 0}};
    check_failure(fail_of(msg), ec::malformed_request, "frame 0 does not exist");
    // Two inputs naming the same frame.
    msg = valid_infer();
    first_input(msg)["data"] = wire_map{{"frame", 1}};
    auto second = first_input(msg);
    second["name"] = "y";
    std::get<wire_array>(msg["inputs"].v).push_back(second);
    check_failure(fail_of(decode_request(frames_of({packed(msg), std::string(8, 'x')}))),
                  ec::malformed_request, "inputs[1].data.frame: frame 1 is referenced twice");
    // A frame nobody references.
    check_failure(fail_of(decode_request(frames_of({packed(valid_infer()), "zz"}))),
                  ec::malformed_request, "frame 1 is not referenced");
  }

  TEST_CASE("input lists") {
    auto msg = valid_infer();
    msg["inputs"] = wire_array{};
    check_failure(fail_of(msg), ec::missing_input, "inputs");
    msg = valid_infer();
    std::get<wire_array>(msg["inputs"].v).push_back(first_input(msg));
    check_failure(fail_of(msg), ec::invalid_argument, "inputs[1].name: duplicate tensor name");
    msg = valid_infer();
    msg["inputs"] = wire_map{};
    check_failure(fail_of(msg), ec::malformed_request, "inputs: expected array");
    msg = valid_infer();
    msg["outputs"] = wire_array{"y"};
    check_failure(fail_of(msg), ec::malformed_request, "outputs[0]: expected map");
  }

  TEST_CASE("infer options") {
    auto msg = valid_infer();
    msg["deadline_ms"] = -5;
    check_failure(fail_of(msg), ec::invalid_argument, "deadline_ms: negative budget -5");
    msg = valid_infer();
    msg["priority"] = true;
    check_failure(fail_of(msg), ec::malformed_request, "priority: expected integer");
    msg = valid_infer();
    msg["parameters"] = wire_map{{"ok", 1}, {"bad", wire_array{}}};
    check_failure(fail_of(msg), ec::malformed_request, "parameters.bad");
  }

  TEST_CASE("other operations validate their fields") {
    wire_value health = wire_map{{"op", "health"}, {"id", "h"}, {"probe", "dead"}};
    check_failure(fail_of(health), ec::invalid_argument, "probe: \"dead\"");
    wire_value fuse =
        wire_map{{"op", "fuse"}, {"id", "f"}, {"group_name", "g"}, {"models", wire_array{"a"}}};
    check_failure(fail_of(fuse), ec::invalid_argument, "at least two models");
    fuse["models"] = wire_array{"a", "a"};
    check_failure(fail_of(fuse), ec::invalid_argument, "models[1]: \"a\" is listed twice");
    wire_value meta = wire_map{{"op", "metadata"}, {"id", "m"}, {"model_version", 2}};
    check_failure(fail_of(meta), ec::invalid_argument, "model_version: given without model_name");
    wire_value index = wire_map{{"op", "repository_index"}, {"id", "i"}, {"ready_only", 1}};
    check_failure(fail_of(index), ec::malformed_request, "ready_only: expected bool");
  }

  TEST_CASE("node-to-node fetches validate their fields") {
    wire_value blob = wire_map{{"op", "fetch_blob"}, {"id", "b"}};
    check_failure(fail_of(blob), ec::malformed_request, "blob_id: missing field");
    blob["blob_id"] = "xyz";
    check_failure(fail_of(blob), ec::invalid_argument, "blob_id: ");
    blob["blob_id"] = std::string(31, 'a');
    check_failure(fail_of(blob), ec::invalid_argument, "blob_id: ");
    blob["blob_id"] = 12;
    check_failure(fail_of(blob), ec::malformed_request, "blob_id: expected string");
    blob["blob_id"] = std::string(32, 'a');
    CHECK(decode_request(frames_of({packed(blob)})).value);
    wire_value skeleton = wire_map{
        {"op", "fetch_skeleton"}, {"id", "s"}, {"skeleton_id", "0g" + std::string(30, '0')}};
    check_failure(fail_of(skeleton), ec::invalid_argument, "skeleton_id: ");
    wire_value manifest = wire_map{{"op", "fetch_manifest"}, {"id", "m"}, {"model_name", " "}};
    check_failure(fail_of(manifest), ec::invalid_argument, "model_name: empty name");
    manifest["model_name"] = "m";
    manifest["model_version"] = 0;
    check_failure(fail_of(manifest), ec::invalid_argument, "model_version: 0 is not a version");
  }

  TEST_CASE("fetch replies are checked on the receiving node too") {
    auto reply_of = [](const wire_value& header) {
      auto d = decode_response(frames_of({packed(header)}));
      REQUIRE_FALSE(d.value);
      return describe(d.value.error());
    };
    wire_value tensor = wire_map{{"name", "not-an-id"},
                                 {"datatype", "FP32"},
                                 {"shape", wire_array{1}},
                                 {"data", wire_bin{std::string(4, '\0')}}};
    wire_value blob = wire_map{{"id", "b"}, {"ok", true}, {"op", "fetch_blob"}, {"blob", tensor}};
    CHECK(reply_of(blob).find("blob.name: \"not-an-id\" is not a blob id") != std::string::npos);
    blob["blob"]["name"] = std::string(32, 'c');
    blob["blob"]["data"] = wire_bin{std::string(3, '\0')};
    CHECK(reply_of(blob).find("blob.data: 3 bytes") != std::string::npos);
    wire_value skeleton = wire_map{{"id", "s"},
                                   {"ok", true},
                                   {"op", "fetch_skeleton"},
                                   {"skeleton_id", std::string(32, 'a')},
                                   {"kind", "python"},
                                   {"data", wire_bin{"def f(): pass"}}};
    CHECK(reply_of(skeleton).find("kind: \"python\" is neither") != std::string::npos);
    skeleton["kind"] = "script";
    skeleton["data"] = "text, not bin";
    CHECK(reply_of(skeleton).find("data: expected bin, got string") != std::string::npos);
  }

  TEST_CASE("map keys must be unique strings") {
    wire_value dup = wire_map{{"op", "health"}, {"id", "a"}, {"id", "b"}};
    check_failure(fail_of(dup), ec::malformed_request, "id: duplicate field");
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk{buf};
    pk.pack_map(2);
    pk.pack(std::string{"id"});
    pk.pack(std::string{"k"});
    pk.pack(7);
    pk.pack(std::string{"x"});
    auto f = fail_of(decode_request(frames_of({std::string{buf.data(), buf.size()}})));
    check_failure(f, ec::malformed_request, "map key is a integer");
    CHECK(f.id == "k");
  }

  TEST_CASE("limits") {
    codec_limits limits;
    limits.max_string_bytes = 8;
    auto msg = valid_infer();
    msg["model_name"] = "a-very-long-model-name";
    check_failure(fail_of(msg, limits), ec::message_too_large,
                  "model_name: string of 22 bytes exceeds the limit of 8");

    limits = {};
    limits.max_tensors = 1;
    msg = valid_infer();
    auto second = first_input(msg);
    second["name"] = "y";
    std::get<wire_array>(msg["inputs"].v).push_back(second);
    check_failure(fail_of(msg, limits), ec::message_too_large, "inputs: 2 elements exceed");

    limits = {};
    limits.max_tensor_bytes = 4;
    check_failure(fail_of(valid_infer(), limits), ec::message_too_large,
                  "exceeds the tensor limit of 4 bytes");

    limits = {};
    limits.max_message_bytes = 10;
    check_failure(fail_of(valid_infer(), limits), ec::message_too_large, "exceed the limit of 10");

    limits = {};
    limits.max_depth = 4; // the deepest valid request: header, inputs, tensor, data
    msg = valid_infer();
    first_input(msg)["data"] = wire_map{{"frame", 1}};
    CHECK(decode_request(frames_of({packed(msg), std::string(8, 'x')}), limits).value);
    msg["parameters"] = wire_map{{"nested", wire_array{wire_array{wire_array{1}}}}};
    check_failure(fail_of(decode_request(frames_of({packed(msg), std::string(8, 'x')}), limits)),
                  ec::malformed_request, "nested deeper than 4");

    limits = {};
    std::vector<std::string> many(limits.max_tensors + 2, "x");
    many[0] = packed(valid_infer());
    check_failure(fail_of(decode_request(frames_of(many))), ec::message_too_large, "frames exceed");
  }

  TEST_CASE("deep nesting is refused before it costs memory") {
    std::string bytes = "\x82\xa2id\xa2zz\xa1p";
    bytes += std::string(100000, '\x91');
    bytes += '\xc0';
    auto f = fail_of(decode_request(frames_of({bytes})));
    check_failure(f, ec::malformed_request, "nested deeper");
    CHECK(f.id == "zz");
  }

  TEST_CASE("random and damaged bytes never crash and always give a verdict") {
    std::mt19937_64 rng{20240611};
    std::vector<std::string> seeds{packed(valid_infer())};
    {
      auto msg = valid_infer();
      first_input(msg)["data"] = wire_map{{"frame", 1}};
      msg["parameters"] = wire_map{{"k", "v"}, {"n", 3}};
      seeds.push_back(packed(msg));
      seeds.push_back(packed(wire_map{
          {"op", "fuse"}, {"id", "f"}, {"group_name", "g"}, {"models", wire_array{"a", "b"}}}));
    }
    size_t refused = 0;
    size_t accepted = 0;
    auto judge = [&](frame_list frames) {
      decoded<request_body> d;
      CHECK_NOTHROW(d = decode_request(std::move(frames)));
      if (d.value) {
        ++accepted;
        CHECK(encode_request(request{d.id, *d.value}));
      } else {
        ++refused;
        auto code = code_of(d.value.error());
        CHECK(code != ec::none);
        CHECK(static_cast<int>(code) <= static_cast<int>(ec::unloading));
      }
    };
    for (int i = 0; i < 3000; ++i) {
      std::string junk(rng() % 64, '\0');
      for (auto& c : junk)
        c = static_cast<char>(rng());
      judge(frames_of({junk}));
    }
    for (int i = 0; i < 6000; ++i) {
      auto bytes = seeds[rng() % seeds.size()];
      switch (rng() % 3) {
      case 0:
        bytes.resize(rng() % bytes.size());
        break;
      case 1:
        for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
          bytes[rng() % bytes.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      default:
        bytes.insert(rng() % bytes.size(), 1, static_cast<char>(rng()));
        break;
      }
      std::vector<std::string> parts{bytes};
      if (rng() % 2 == 0)
        parts.push_back(std::string(rng() % 12, 'd'));
      judge(frames_of(parts));
    }
    CHECK(refused > 1000);
    CHECK(accepted > 0);
  }

  TEST_CASE("damaged replies never crash the client side either") {
    infer_response r;
    r.model_name = "m";
    r.outputs.push_back({"y", random_tensor({dtype::float32, {3}}, 1)});
    auto frames = encode_response("x", r);
    REQUIRE(frames);
    std::string bytes{static_cast<const char*>((*frames)[0].data()), (*frames)[0].size()};
    std::mt19937_64 rng{7};
    size_t refused = 0;
    for (int i = 0; i < 3000; ++i) {
      auto damaged = bytes;
      if (i % 2 == 0)
        damaged.resize(rng() % damaged.size());
      else
        damaged[rng() % damaged.size()] ^= static_cast<char>(1 << (rng() % 8));
      decoded<response_body> d;
      CHECK_NOTHROW(d = decode_response(frames_of({damaged})));
      refused += d.value ? 0 : 1;
    }
    CHECK(refused > 1000);
  }

} // TEST_SUITE
