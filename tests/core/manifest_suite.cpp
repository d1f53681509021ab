#include "error_of.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/input_check.hpp"
#include "tessera/core/manifest_json.hpp"
#include "tessera/core/model_graph.hpp"

#include <doctest/doctest.h>

using namespace tessera;

namespace {

content_id id_n(uint64_t n) {
  return content_id{n, n};
}

// image -> a -> b -> logits, with a's and b's declared types.
model_manifest chain() {
  model_manifest m;
  m.name = "tiny";
  m.version = 2;
  m.inputs = {{"image", {dtype::float32, {-1, 3, 8, 8}}, ""}};
  m.outputs = {{"logits", {dtype::float32, {-1, 10}}, "b"}};
  node_spec a{"a", id_n(1), {{"w", id_n(2), {dtype::float32, {4, 3, 3, 3}}}}, {"image"},
              tensor_spec{dtype::float32, {-1, 4, 8, 8}}};
  node_spec b{"b", id_n(3), {{"w", id_n(4), {dtype::float32, {10, 256}}}}, {"a"},
              tensor_spec{dtype::float32, {-1, 10}}};
  m.nodes = {a, b};
  return m;
}

std::string message_of(const caf::error& err) {
  return describe(err);
}

} // namespace

TEST_SUITE("manifest") {
  TEST_CASE("JSON round trip keeps every field") {
    auto m = chain();
    m.family = "test";
    m.description = "two nodes";
    auto text = to_json_text(m);
    auto back = parse_manifest(text);
    REQUIRE(back);
    CHECK(to_json_text(*back) == text);
    CHECK(back->nodes[1].params[0].spec.shape == std::vector<int64_t>{10, 256});
    CHECK(back->version == 2);
  }

  TEST_CASE("a valid chain orders producers first and frees values after use") {
    auto g = validate_manifest(chain());
    REQUIRE(g);
    CHECK(g->order == std::vector<uint32_t>{0, 1});
    CHECK(g->last_use[0] == 1);
    CHECK(g->last_use[1] == 2); // feeds the model output
  }

  TEST_CASE("parse errors name the model and the field") {
    auto text = to_json_text(chain());
    auto broken = text;
    broken.replace(broken.find("\"skeleton\""), 10, "\"skelet0n\"");
    auto err = test::error_of(parse_manifest(broken));
    CHECK(code_of(err) == ec::bad_manifest);
    CHECK(message_of(err).find("model \"tiny\"") != std::string::npos);
    CHECK(message_of(err).find("nodes[0].skeleton: missing") != std::string::npos);
    CHECK(code_of(test::error_of(parse_manifest("{not json"))) == ec::bad_manifest);
    auto bad_dtype = text;
    bad_dtype.replace(bad_dtype.find("float32"), 7, "float33");
    CHECK(message_of(test::error_of(parse_manifest(bad_dtype))).find("inputs[0].dtype") !=
          std::string::npos);
  }

  TEST_CASE("a reference to nothing is a missing input naming the node") {
    auto m = chain();
    m.nodes[1].inputs = {"nowhere"};
    auto err = test::error_of(validate_manifest(m));
    CHECK(code_of(err) == ec::missing_input);
    CHECK(message_of(err).find("nodes[1].inputs[0]") != std::string::npos);
    CHECK(message_of(err).find("nowhere") != std::string::npos);
  }

  TEST_CASE("cycles are refused") {
    auto m = chain();
    m.nodes[0].inputs = {"b"};
    auto err = test::error_of(validate_manifest(m));
    CHECK(code_of(err) == ec::bad_manifest);
    CHECK(message_of(err).find("cycle") != std::string::npos);
    m.nodes[0].inputs = {"a"};
    CHECK(message_of(test::error_of(validate_manifest(m))).find("consumes itself") !=
          std::string::npos);
  }

  TEST_CASE("declared output types must agree") {
    auto m = chain();
    m.outputs[0].spec.type = dtype::float16;
    CHECK(code_of(test::error_of(validate_manifest(m))) == ec::dtype_mismatch);
    m = chain();
    m.outputs[0].spec.shape = {-1, 11};
    auto err = test::error_of(validate_manifest(m));
    CHECK(code_of(err) == ec::shape_mismatch);
    CHECK(message_of(err).find("outputs[0]") != std::string::npos);
  }

  TEST_CASE("inputs need a dynamic batch dimension and unique names") {
    auto m = chain();
    m.inputs[0].spec.shape = {1, 3, 8, 8};
    CHECK(message_of(test::error_of(validate_manifest(m))).find("dynamic batch") !=
          std::string::npos);
    m = chain();
    m.nodes[1].name = "a";
    CHECK(message_of(test::error_of(validate_manifest(m))).find("duplicate node") !=
          std::string::npos);
  }

  TEST_CASE("shared bytes count each blob once") {
    auto a = chain();
    auto b = chain();
    b.nodes[1].params[0].blob = id_n(99);
    CHECK(parameter_bytes(a) == (4 * 3 * 3 * 3 + 10 * 256) * 4);
    CHECK(shared_bytes(a, b) == 4 * 3 * 3 * 3 * 4);
    CHECK(shared_bytes(a, a) == parameter_bytes(a));
  }

  TEST_CASE("request inputs are checked against the declaration") {
    auto m = chain();
    auto ok = random_tensor({dtype::float32, {2, 3, 8, 8}}, 1);
    CHECK_FALSE(check_model_inputs(m, {ok}));
    CHECK(code_of(check_model_inputs(m, {})) == ec::missing_input);
    auto wrong_type = random_tensor({dtype::int64, {2, 3, 8, 8}}, 1);
    CHECK(code_of(check_model_inputs(m, {wrong_type})) == ec::dtype_mismatch);
    auto wrong_shape = random_tensor({dtype::float32, {2, 3, 8, 9}}, 1);
    auto err = check_model_inputs(m, {wrong_shape});
    CHECK(code_of(err) == ec::shape_mismatch);
    CHECK(message_of(err).find("input \"image\"") != std::string::npos);
    auto truncated = ok;
    truncated.bytes -= 4;
    CHECK(code_of(check_model_inputs(m, {truncated})) == ec::invalid_argument);
  }
}
