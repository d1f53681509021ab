// Tests of the model zoo: names and shapes, determinism by seed, the sharing
// structure between variants (measured on manifests against the zoo's own
// metadata), the skeleton calling convention, and that every manifest checks.
#include "scratch_dir.hpp"
#include "why.hpp"

#include "tessera/core/error.hpp"
#include "tessera/core/manifest_json.hpp"
#include "tessera/zoo/families.hpp"
#include "tessera/zoo/layer_slices.hpp"
#include "tessera/zoo/zoo.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace tessera;

// Small widths keep each build to a fraction of a second.
constexpr double test_scale = 0.25;

std::vector<zoo::zoo_entry> build(const std::string& root, uint64_t seed,
                                  std::vector<std::string> families = {}, bool shared = true) {
  auto store = store::block_store::open(root);
  REQUIRE(store);
  zoo::zoo_options opts;
  opts.scale = test_scale;
  opts.seed = seed;
  opts.families = std::move(families);
  opts.shared = shared;
  auto entries = zoo::build_zoo(*store, opts);
  REQUIRE_MESSAGE(entries, test::why(entries));
  return std::move(*entries);
}

std::set<content_id> blob_ids(const std::vector<zoo::zoo_entry>& entries) {
  std::set<content_id> ids;
  for (const auto& e : entries)
    for (const auto& [id, bytes] : unique_blobs(e.manifest))
      ids.insert(id);
  return ids;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A node computes (part of) a module when it is named after it: the module's
// own name, or the name followed by '_' and the part (docs/model-zoo.md).
bool in_module(const std::string& node, const std::string& module) {
  return node == module || node.rfind(module + "_", 0) == 0;
}

bool in_any_module(const std::string& node, const std::vector<std::string>& modules) {
  return std::any_of(modules.begin(), modules.end(),
                     [&](const std::string& m) { return in_module(node, m); });
}

// What the zoo's metadata promises two models of one family share: every node
// of a module that neither changed relative to the base, unless one of them is
// unrelated.
size_t expected_shared_bytes(const zoo::zoo_entry& a, const zoo::zoo_entry& b) {
  if (a.manifest.name == b.manifest.name)
    return parameter_bytes(a.manifest);
  if (a.sharing == zoo::sharing_kind::unrelated || b.sharing == zoo::sharing_kind::unrelated)
    return 0;
  size_t total = 0;
  for (const auto& node : a.manifest.nodes)
    if (!in_any_module(node.name, a.changed_modules)
        && !in_any_module(node.name, b.changed_modules))
      for (const auto& p : node.params)
        total += p.spec.bytes();
  return total;
}

} // namespace

TEST_SUITE("zoo") {

TEST_CASE("the zoo builds fifteen models with the documented names and types") {
  test::scratch_dir dir{"zoo-names"};
  auto entries = build(dir.path(), 42);
  REQUIRE(entries.size() == 15);
  CHECK(zoo::zoo_families() == std::vector<std::string>{"resnet", "mobilenet", "vit"});
  std::vector<std::string> names;
  for (const auto& e : entries)
    names.push_back(e.manifest.name);
  CHECK(names
        == std::vector<std::string>{"resnet18", "resnet-cars", "resnet-birds", "resnet-ft",
                                    "resnet-scratch", "mobilenetv2", "mobilenet-cars",
                                    "mobilenet-birds", "mobilenet-ft", "mobilenet-scratch",
                                    "vit-tiny", "vit-cars", "vit-birds", "vit-ft",
                                    "vit-scratch"});
  for (const auto& e : entries) {
    const auto& m = e.manifest;
    CAPTURE(m.name);
    CHECK(m.version == 1);
    CHECK(!m.description.empty());
    CHECK(m.description.find('\n') == std::string::npos);
    REQUIRE(m.inputs.size() == 1);
    CHECK(m.inputs[0].name == "image");
    CHECK(m.inputs[0].spec == tensor_spec{dtype::float32, {-1, 3, 224, 224}});
    REQUIRE(m.outputs.size() == 1);
    CHECK(m.outputs[0].name == "logits");
    CHECK(m.outputs[0].source == "head");
    int64_t classes = m.name.find("-cars") != std::string::npos    ? 196
                      : m.name.find("-birds") != std::string::npos ? 200
                                                                   : 1000;
    CHECK(m.outputs[0].spec == tensor_spec{dtype::float32, {-1, classes}});
    for (const auto& node : m.nodes) {
      REQUIRE(node.output);
      CHECK(node.output->type == dtype::float32);
      CHECK(node.output->shape.front() == -1);
    }
  }
  CHECK(entries[0].manifest.family == "resnet");
  CHECK(entries[5].manifest.family == "mobilenet");
  CHECK(entries[14].manifest.family == "vit");
}

TEST_CASE("every zoo manifest passes the store's check and is stored") {
  test::scratch_dir dir{"zoo-check"};
  auto entries = build(dir.path(), 42);
  auto store = store::block_store::open(dir.path(), false);
  REQUIRE(store);
  for (const auto& e : entries) {
    CAPTURE(e.manifest.name);
    auto err = store->check_manifest(e.manifest);
    CHECK_MESSAGE(!err, describe(err));
    auto stored = store->manifests().get(e.manifest.name, 1);
    REQUIRE(stored);
    CHECK(to_json_text(*stored) == to_json_text(e.manifest));
  }
}

TEST_CASE("the same seed gives identical blob ids and manifests; another seed does not") {
  test::scratch_dir first{"zoo-seed-a"};
  test::scratch_dir second{"zoo-seed-b"};
  test::scratch_dir other{"zoo-seed-c"};
  auto a = build(first.path(), 42);
  auto b = build(second.path(), 42);
  auto c = build(other.path(), 7);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].manifest.name);
    CHECK(to_json_text(a[i].manifest) == to_json_text(b[i].manifest));
  }
  auto ids_a = blob_ids(a);
  auto ids_c = blob_ids(c);
  CHECK(ids_a == blob_ids(b));
  std::vector<content_id> common;
  std::set_intersection(ids_a.begin(), ids_a.end(), ids_c.begin(), ids_c.end(),
                        std::back_inserter(common));
  CHECK(common.empty());
  // Skeletons are code, not values: they do not depend on the seed.
  CHECK(a[0].manifest.nodes[0].skeleton == c[0].manifest.nodes[0].skeleton);
}

TEST_CASE("bytes shared between variants match the zoo's metadata") {
  test::scratch_dir dir{"zoo-sharing"};
  auto entries = build(dir.path(), 42);
  for (const auto& fam : zoo::zoo_families()) {
    std::vector<const zoo::zoo_entry*> members;
    for (const auto& e : entries)
      if (e.manifest.family == fam)
        members.push_back(&e);
    REQUIRE(members.size() == 5);
    const auto& base = *members[0];
    REQUIRE(base.sharing == zoo::sharing_kind::base);
    for (const auto* a : members)
      for (const auto* b : members) {
        CAPTURE(a->manifest.name);
        CAPTURE(b->manifest.name);
        CHECK(shared_bytes(a->manifest, b->manifest) == expected_shared_bytes(*a, *b));
      }
    for (const auto* e : members) {
      CAPTURE(e->manifest.name);
      switch (e->sharing) {
        case zoo::sharing_kind::base:
          CHECK(e->derived_from.empty());
          break;
        case zoo::sharing_kind::head:
          CHECK(e->derived_from == base.manifest.name);
          CHECK(e->changed_modules == std::vector<std::string>{"head"});
          CHECK(shared_bytes(base.manifest, e->manifest) > 0);
          break;
        case zoo::sharing_kind::finetune:
          CHECK(e->derived_from == base.manifest.name);
          CHECK(e->changed_modules.size() == 4);
          CHECK(contains(e->changed_modules, "head"));
          CHECK(e->changed_nodes.size() >= e->changed_modules.size());
          break;
        case zoo::sharing_kind::unrelated:
          CHECK(e->derived_from.empty());
          CHECK(e->changed_nodes.empty());
          break;
      }
      // The nodes of a changed module are the module's own name or start with
      // it (a module cut into several blocks), and the head ends every model.
      for (const auto& name : e->changed_nodes)
        CHECK(in_any_module(name, e->changed_modules));
      for (const auto& node : e->manifest.nodes)
        CHECK(contains(e->changed_nodes, node.name) == in_any_module(node.name, e->changed_modules));
      CHECK(e->manifest.nodes.back().name == "head");
      // Backbones are cut the same way in every variant: the nodes before the
      // head match the base's one for one. A changed node has no blob in common
      // with the base; an unchanged one is the same block.
      size_t backbone = 0;
      while (backbone < e->manifest.nodes.size()
             && !in_module(e->manifest.nodes[backbone].name, "head"))
        ++backbone;
      REQUIRE(backbone < base.manifest.nodes.size());
      CHECK(in_module(base.manifest.nodes[backbone].name, "head"));
      for (size_t i = 0; i < e->manifest.nodes.size(); ++i) {
        const auto& node = e->manifest.nodes[i];
        bool changed = contains(e->changed_nodes, node.name)
                       || e->sharing == zoo::sharing_kind::unrelated;
        if (i >= backbone) {
          CHECK(in_module(node.name, "head"));
          CHECK(changed == (e->sharing != zoo::sharing_kind::base));
          continue;
        }
        const auto& base_node = base.manifest.nodes[i];
        REQUIRE(node.name == base_node.name);
        CHECK(node.skeleton == base_node.skeleton);
        bool same_block = block_id(node) == block_id(base_node);
        CHECK(same_block != changed);
      }
    }
  }
  // Families never share parameters.
  for (const auto& a : entries)
    for (const auto& b : entries)
      if (a.manifest.family != b.manifest.family)
        CHECK(shared_bytes(a.manifest, b.manifest) == 0);
}

TEST_CASE("a zoo built to share nothing has the same models, and no two share a byte") {
  test::scratch_dir dir{"zoo-shared"};
  test::scratch_dir other{"zoo-unshared"};
  auto entries = build(dir.path(), 42, {"resnet", "vit"});
  auto apart = build(other.path(), 42, {"resnet", "vit"}, false);
  REQUIRE(apart.size() == entries.size());
  for (size_t i = 0; i < apart.size(); ++i) {
    const auto& m = apart[i].manifest;
    CAPTURE(m.name);
    CHECK(m.name == entries[i].manifest.name);
    CHECK(parameter_bytes(m) == parameter_bytes(entries[i].manifest));
    CHECK(m.inputs.size() == entries[i].manifest.inputs.size());
    CHECK(apart[i].sharing ==
          (i % 5 == 0 ? zoo::sharing_kind::base : zoo::sharing_kind::unrelated));
    for (size_t j = 0; j < apart.size(); ++j)
      if (j != i)
        CHECK(shared_bytes(m, apart[j].manifest) == 0);
  }
  // Its base models are the shared zoo's, byte for byte.
  CHECK(shared_bytes(apart[0].manifest, entries[0].manifest) ==
        parameter_bytes(entries[0].manifest));
}

TEST_CASE("skeletons follow the forward(inputs..., params...) convention") {
  test::scratch_dir dir{"zoo-skeletons"};
  auto entries = build(dir.path(), 42);
  auto store = store::block_store::open(dir.path(), false);
  REQUIRE(store);
  for (const auto& e : entries)
    for (const auto& node : e.manifest.nodes) {
      CAPTURE(node.name);
      auto skel = store->skeletons().get(node.skeleton);
      REQUIRE(skel);
      CHECK(skel->kind == store::skeleton_kind::script);
      const auto& src = skel->bytes;
      REQUIRE(src.rfind("def forward(", 0) == 0);
      CHECK(src.find("def ", 1) == std::string::npos);
      auto header = src.substr(0, src.find('\n'));
      CHECK(header.find(") -> Tensor:") != std::string::npos);
      // Inputs come first (x, or x0, x1, ... for a block reading several),
      // then the parameters in binding order.
      REQUIRE(!node.inputs.empty());
      std::string expected = "def forward(";
      for (size_t i = 0; i < node.inputs.size(); ++i)
        expected += (i == 0 ? "" : ", ")
                    + (node.inputs.size() == 1 ? std::string{"x"} : "x" + std::to_string(i))
                    + ": Tensor";
      for (const auto& p : node.params)
        expected += ", " + p.name + ": Tensor";
      CHECK(header == expected + ") -> Tensor:");
    }
}

TEST_CASE("options select families and reject bad values") {
  test::scratch_dir dir{"zoo-options"};
  auto entries = build(dir.path(), 42, {"vit"});
  REQUIRE(entries.size() == 5);
  for (const auto& e : entries)
    CHECK(e.manifest.family == "vit");
  auto store = store::block_store::open(dir.path());
  REQUIRE(store);
  zoo::zoo_options opts;
  opts.scale = test_scale;
  opts.families = {"alexnet"};
  auto unknown = zoo::build_zoo(*store, opts);
  REQUIRE(!unknown);
  CHECK(code_of(unknown.error()) == ec::invalid_argument);
  CHECK(describe(unknown.error()).find("alexnet") != std::string::npos);
  opts.families = {};
  opts.scale = 0.0;
  CHECK(!zoo::build_zoo(*store, opts));
}

TEST_CASE("progress reports every model once, in order") {
  test::scratch_dir dir{"zoo-progress"};
  auto store = store::block_store::open(dir.path());
  REQUIRE(store);
  zoo::zoo_options opts;
  opts.scale = test_scale;
  opts.families = {"mobilenet"};
  std::vector<std::string> seen;
  auto entries = zoo::build_zoo(*store, opts, [&](const std::string& model, size_t done,
                                                  size_t total) {
    CHECK(total == 5);
    CHECK(done == seen.size() + 1);
    seen.push_back(model);
  });
  REQUIRE(entries);
  CHECK(seen == std::vector<std::string>{"mobilenetv2", "mobilenet-cars", "mobilenet-birds",
                                         "mobilenet-ft", "mobilenet-scratch"});
}

TEST_CASE("architectures have the published parameter counts at scale 1") {
  // Running statistics of batch norm are counted too, hence the slightly higher ranges.
  auto resnet = zoo::parameter_count(zoo::resnet18_architecture(1.0, 1000));
  CHECK(resnet > 11'689'000);
  CHECK(resnet < 11'710'000);
  auto mobilenet = zoo::parameter_count(zoo::mobilenetv2_architecture(1.0, 1000));
  CHECK(mobilenet > 3'504'000);
  CHECK(mobilenet < 3'580'000);
  auto vit = zoo::parameter_count(zoo::vit_tiny_architecture(1.0, 1000));
  CHECK(vit > 5'700'000);
  CHECK(vit < 5'730'000);
  // Widths scale and round to multiples of 8 (ViT: heads * 8).
  auto small = zoo::vit_tiny_architecture(0.25, 10);
  CHECK(small.front().output_shape == std::vector<int64_t>{-1, 197, 48});
  CHECK(zoo::scaled_width(64, 0.1) == 8);
}

TEST_CASE("blocks stay under the block limit, so every model streams at 1/5 of its size") {
  // Architectures only (no values): cheap at every scale.
  for (double scale : {0.25, 0.5, 1.0, 2.0, 4.0, 16.0})
    for (const auto& f : zoo::family_infos()) {
      auto limit = zoo::zoo_block_limit(f, scale);
      for (int64_t classes : {1000, 200, 196}) {
        CAPTURE(scale);
        CAPTURE(f.family);
        CAPTURE(classes);
        auto whole = f.make(scale, classes, zoo::unlimited_block_params);
        auto cut = f.make(scale, classes, limit);
        // Cutting moves parameters between blocks; it neither adds nor drops any.
        CHECK(zoo::parameter_count(cut) == zoo::parameter_count(whole));
        auto total = zoo::parameter_count(cut);
        std::set<std::string> modules;
        for (const auto& block : cut) {
          CAPTURE(block.name);
          CHECK(zoo::parameter_count(block) <= limit);
          CHECK(zoo::parameter_count(block) * 5 <= total);
          modules.insert(block.module);
          // A module keeps its name on its last block; its other blocks carry it as a prefix.
          CHECK(in_module(block.name, block.module));
        }
        // Every module of the uncut network is still there, under its own name.
        for (const auto& block : whole) {
          CHECK(block.module == block.name);
          CHECK(modules.count(block.name) == 1);
          CHECK(std::any_of(cut.begin(), cut.end(),
                            [&](const zoo::block_plan& b) { return b.name == block.name; }));
        }
        CHECK(cut.back().name == "head");
        CHECK(cut.back().output_shape == std::vector<int64_t>{-1, classes});
      }
    }
  // At scale 1 ResNet-18's last stage is cut per conv, and its 512x512 convs
  // (20.2% of the model each) in two by output channels; MobileNetV2's head is
  // cut in three; ViT-Tiny keeps one block per module.
  auto resnet = zoo::resnet18_architecture(1.0, 1000, zoo::zoo_block_limit(zoo::family_infos()[0], 1.0));
  CHECK(resnet.size() == 15);
  auto mobilenet =
    zoo::mobilenetv2_architecture(1.0, 1000, zoo::zoo_block_limit(zoo::family_infos()[1], 1.0));
  CHECK(std::count_if(mobilenet.begin(), mobilenet.end(),
                      [](const zoo::block_plan& b) { return b.module == "head"; })
        == 3);
  auto vit = zoo::vit_tiny_architecture(1.0, 1000, zoo::zoo_block_limit(zoo::family_infos()[2], 1.0));
  CHECK(vit.size() == 14);
  CHECK(zoo::output_slices(512, 512 * 4609, 1'200'000) == std::vector<int64_t>{256, 256});
  CHECK(zoo::output_slices(1000, 1000, 334) == std::vector<int64_t>{334, 333, 333});
  CHECK(zoo::output_slices(8, 8000, 1) == std::vector<int64_t>(8, 1));
  CHECK(zoo::output_slices(64, 100, 1000) == std::vector<int64_t>{64});
}

} // TEST_SUITE
