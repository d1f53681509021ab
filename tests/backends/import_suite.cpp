// Importing a user's TorchScript: every mistake in a stage folder or a file
// import is answered in Tessera's words, naming the file, the field or the
// stage, before anything is stored (issue 23's friction list). The stage
// files are ViT-Tiny's blocks of the small zoo, exported as TorchScript.
#include "scratch_dir.hpp"
#include "stage_files.hpp"
#include "tessera/core/error.hpp"
#include "tessera/torch/torchscript_files.hpp"
#include "why.hpp"
#include "zoo_fixture.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace tessera;

namespace {

// A folder with one TorchScript file per ViT-Tiny block (stage0.pt, ...), and
// the dag.json text that chains them; tests break one thing each.
struct stage_folder {
  test::scratch_dir dir{"import-stages"};
  const model_manifest& m = test::small_zoo::get().manifest("vit-tiny");

  stage_folder() {
    tensor_spec in_spec = m.inputs[0].spec;
    for (size_t i = 0; i < m.nodes.size(); ++i) {
      REQUIRE_FALSE(torch_backend::export_torchscript(*test::small_zoo::get().store,
                                                      test::stage_of(m, i, in_spec), file(i)));
      in_spec = *m.nodes[i].output;
    }
  }

  std::string file(size_t i) const {
    return dir.path() + "/stage" + std::to_string(i) + ".pt";
  }

  // dag.json with `output_shape` declared for the output, and `extra` stages
  // appended to the list.
  std::string dag(const std::string& output_shape, const std::string& extra = "",
                  const std::string& output_from = "") const {
    std::ostringstream d;
    d << R"({"name": "staged-vit", "inputs": [{"name": "image", "dtype": "FP32", "shape": )"
      << shape_to_string(m.inputs[0].spec.shape)
      << R"(}], "outputs": [{"name": "logits", "from": ")"
      << (output_from.empty() ? m.nodes.back().name : output_from)
      << R"(", "dtype": "float32", "shape": )" << output_shape << R"(}], "stages": [)";
    for (size_t i = 0; i < m.nodes.size(); ++i)
      d << (i > 0 ? ", " : "") << R"({"name": ")" << m.nodes[i].name << R"(", "file": "stage)" << i
        << R"(.pt", "inputs": [")" << (i == 0 ? "image" : m.nodes[i - 1].name) << R"("]})";
    d << extra << "]}";
    return d.str();
  }

  caf::error import_with(const std::string& text) const {
    std::ofstream{dir.path() + "/dag.json"} << text;
    auto st = store::block_store::open(dir.path() + "/store");
    REQUIRE(st);
    auto m = torch_backend::import_torchscript_dag(*st, dir.path());
    if (m)
      return {};
    // Refused before anything was stored.
    CHECK(st->blobs().list().empty());
    return m.error();
  }

  std::string good_shape() const {
    return shape_to_string(m.outputs[0].spec.shape);
  }
};

std::string text_of(const caf::error& err) {
  REQUIRE(err);
  auto text = describe(err);
  CHECK_MESSAGE(text.find("json.exception") == std::string::npos, text);
  CHECK_MESSAGE(text.find("Traceback") == std::string::npos, text);
  return text;
}

} // namespace

TEST_SUITE("import") {
  TEST_CASE("a well-formed stage folder imports, with each stage's output type") {
    stage_folder f;
    auto st = store::block_store::open(f.dir.path() + "/store");
    REQUIRE(st);
    std::ofstream{f.dir.path() + "/dag.json"} << f.dag(f.good_shape());
    auto m = torch_backend::import_torchscript_dag(*st, f.dir.path());
    REQUIRE_MESSAGE(m, test::why(m));
    CHECK(m->family.empty());
    REQUIRE(m->nodes.size() == f.m.nodes.size());
    for (size_t i = 0; i < m->nodes.size(); ++i)
      CHECK(m->nodes[i].output == f.m.nodes[i].output);
  }

  TEST_CASE("mistakes in a stage folder are named in Tessera's words, before anything is stored") {
    stage_folder f;
    SUBCASE("no dag.json") {
      auto st = store::block_store::open(f.dir.path() + "/store");
      REQUIRE(st);
      auto m = torch_backend::import_torchscript_dag(*st, f.dir.path());
      REQUIRE_FALSE(m);
      auto text = text_of(m.error());
      CHECK_MESSAGE(text.find("has no dag.json") != std::string::npos, text);
      CHECK_MESSAGE(text.find("docs/model-format.md") != std::string::npos, text);
    }
    SUBCASE("a model name the store refuses, found before any stage is stored") {
      auto dag = f.dag(f.good_shape());
      dag.replace(dag.find("staged-vit"), 10, "staged vit");
      auto text = text_of(f.import_with(dag));
      CHECK_MESSAGE(text.find(R"(model name "staged vit")") != std::string::npos, text);
    }
    SUBCASE("a missing field") {
      auto dag = f.dag(f.good_shape());
      dag.replace(dag.find(R"("from": )"), 8, R"("form": )");
      auto text = text_of(f.import_with(dag));
      CHECK_MESSAGE(text.find(R"(outputs[0]: missing "from")") != std::string::npos, text);
    }
    SUBCASE("a field of the wrong type") {
      auto dag = f.dag(f.good_shape());
      auto shape = std::string{R"("shape": )"} + shape_to_string(f.m.inputs[0].spec.shape);
      dag.replace(dag.find(shape), shape.size(), R"("shape": "-1x3x224x224")");
      auto text = text_of(f.import_with(dag));
      CHECK_MESSAGE(text.find(R"(inputs[0]: "shape" must be an array of integers)") !=
                        std::string::npos,
                    text);
    }
    SUBCASE("a stage file that is not there") {
      std::filesystem::remove(f.file(1));
      auto text = text_of(f.import_with(f.dag(f.good_shape())));
      CHECK_MESSAGE(text.find(R"(its file "stage1.pt" is not in)") != std::string::npos, text);
    }
    SUBCASE("a declared output shape that the stages do not give") {
      auto text = text_of(f.import_with(f.dag("[-1, 7]")));
      CHECK_MESSAGE(text.find("declared float32[-1,7], but stage") != std::string::npos, text);
    }
    SUBCASE("an output from a stage that does not exist") {
      auto text = text_of(f.import_with(f.dag(f.good_shape(), "", "nowhere")));
      CHECK_MESSAGE(text.find(R"("nowhere" names no stage)") != std::string::npos, text);
    }
    SUBCASE("a stage that nothing uses") {
      auto extra = R"(, {"name": "spare", "file": "stage0.pt", "inputs": ["image"]})";
      auto text = text_of(f.import_with(f.dag(f.good_shape(), extra)));
      CHECK_MESSAGE(text.find(R"("spare": nothing uses its output)") != std::string::npos, text);
    }
    SUBCASE("a stage input that names nothing") {
      auto extra = R"(, {"name": "spare", "file": "stage0.pt", "inputs": ["imgae"]})";
      auto text = text_of(f.import_with(f.dag(f.good_shape(), extra)));
      CHECK_MESSAGE(text.find(R"(input "imgae" is neither a model input)") != std::string::npos,
                    text);
    }
    SUBCASE("a stage given a tensor of the wrong shape") {
      // The first block takes the image; the second cannot take it.
      auto dag = f.dag(f.good_shape());
      auto second = R"("inputs": [")" + f.m.nodes[0].name + R"("]})";
      dag.replace(dag.find(second), second.size(), R"("inputs": ["image"]})");
      auto text = text_of(f.import_with(dag));
      CHECK_MESSAGE(text.find("the sample run on image float32[2,") != std::string::npos, text);
    }
  }

  TEST_CASE("a file import whose --input lacks the batch dimension says so, without a traceback") {
    stage_folder f;
    auto st = store::block_store::open(f.dir.path() + "/store");
    REQUIRE(st);
    torch_backend::import_options opts;
    opts.name = "first-block";
    auto shape = f.m.inputs[0].spec.shape;
    shape.erase(shape.begin()); // 3x224x224 as a user may write it: the 3 becomes the batch
    opts.inputs = {{"x", tensor_spec{dtype::float32, shape}, ""}};
    auto m = torch_backend::import_torchscript_file(*st, f.file(0), opts);
    REQUIRE_FALSE(m);
    auto text = text_of(m.error());
    CHECK_MESSAGE(text.find("starts with the batch dimension") != std::string::npos, text);
    CHECK(st->blobs().list().empty());
  }

  TEST_CASE("an imported model takes a family, from dag.json or the import options") {
    stage_folder f;
    auto st = store::block_store::open(f.dir.path() + "/store");
    REQUIRE(st);
    auto dag = f.dag(f.good_shape());
    dag.insert(1, R"("family": "vit", )");
    std::ofstream{f.dir.path() + "/dag.json"} << dag;
    auto staged = torch_backend::import_torchscript_dag(*st, f.dir.path());
    REQUIRE_MESSAGE(staged, test::why(staged));
    CHECK(staged->family == "vit");
    CHECK(st->manifests().get("staged-vit", 1)->family == "vit");
    torch_backend::import_options opts;
    opts.name = "first-block";
    opts.family = "vit-parts";
    opts.inputs = {{"x", f.m.inputs[0].spec, ""}};
    auto file = torch_backend::import_torchscript_file(*st, f.file(0), opts);
    REQUIRE_MESSAGE(file, test::why(file));
    CHECK(file->family == "vit-parts");
  }

  TEST_CASE("dtypes are read in either spelling, in any case") {
    for (const char* name : {"float32", "FP32", "fp32", "Float32"}) {
      auto t = parse_dtype(name);
      REQUIRE_MESSAGE(t, name);
      CHECK(*t == dtype::float32);
    }
    CHECK_FALSE(parse_dtype("fp33"));
  }
}
