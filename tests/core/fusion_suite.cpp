#include "error_of.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/fusion_pass.hpp"
#include "tessera/core/fusion_plan.hpp"
#include "tessera/core/fusion_policy.hpp"
#include "tessera/core/group_definition.hpp"
#include "tessera/core/manifest_json.hpp"
#include "tessera/core/model_graph.hpp"
#include "why.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

using namespace tessera;

namespace {

content_id id_n(uint64_t n) {
  return content_id{n, n * 7 + 1};
}

const tensor_spec image_spec{dtype::float32, {-1, 3, 8, 8}};

// input -> b0 -> b1 -> ... -> head -> logits. Node k of every chain runs
// skeleton 100+k; its weight blob is `backbone[k]`, the head's is `head`.
model_manifest chain(const std::string& name, const std::vector<uint64_t>& backbone, uint64_t head,
                     int64_t classes = 10, const std::string& input = "image",
                     tensor_spec in_spec = image_spec) {
  model_manifest m;
  m.name = name;
  m.inputs = {{input, in_spec, ""}};
  std::string prev = input;
  for (size_t k = 0; k < backbone.size(); ++k) {
    node_spec n{"b" + std::to_string(k),
                id_n(100 + k),
                {{"w", id_n(backbone[k]), {dtype::float32, {128, 64, 3, 3}}}},
                {prev},
                tensor_spec{dtype::float32, {-1, 4, 8, 8}}};
    m.nodes.push_back(n);
    prev = n.name;
  }
  m.nodes.push_back({"head",
                     id_n(200),
                     {{"w", id_n(head), {dtype::float32, {classes, 256}}}},
                     {prev},
                     tensor_spec{dtype::float32, {-1, classes}}});
  m.outputs = {{"logits", {dtype::float32, {-1, classes}}, "head"}};
  return m;
}

model_manifest base() {
  return chain("base", {1, 2, 3}, 10);
}
model_manifest cars() {
  return chain("cars", {1, 2, 3}, 11, 196);
}
// Retrains b1: b2 keeps its blob but reads a different value, so only b0 merges.
model_manifest finetuned() {
  return chain("ft", {1, 9, 3}, 12);
}
model_manifest scratch() {
  return chain("scratch", {21, 22, 23}, 24);
}

fused_plan plan_of(const std::vector<model_manifest>& models, const std::string& name = "g") {
  auto p = plan_fusion(name, models);
  REQUIRE_MESSAGE(p, test::why(p));
  return std::move(*p);
}

std::string text_of(const fused_plan& p) {
  std::string s = to_json_text(p.dag);
  for (const auto& m : p.members) {
    s += m.model + m.label;
    for (auto v : m.node_of)
      s += "," + std::to_string(v);
  }
  return s;
}

} // namespace

TEST_SUITE("fusion") {
  TEST_CASE("a shared backbone merges; each member keeps its own head and outputs") {
    auto p = plan_of({base(), cars()});
    CHECK(p.name == "g");
    CHECK(p.dag.name == "g");
    CHECK(p.dag.nodes.size() == 5); // b0 b1 b2 shared, two heads
    CHECK(p.merged.size() == 3);
    CHECK(p.savings.nodes_saved() == 3);
    CHECK(p.savings.bytes_saved() == shared_bytes(base(), cars()));
    CHECK(p.savings.fused_bytes == parameter_bytes(p.dag));
    CHECK(p.savings.macs_saved_fraction() > 0.0);
    CHECK(p.savings.macs_saved_fraction() < 1.0);
    REQUIRE(p.dag.outputs.size() == 2);
    CHECK(p.dag.outputs[p.find("cars")->output_of[0]].name == "cars/logits");
    CHECK(p.dag.outputs[p.find("cars:1")->output_of[0]].spec.shape[1] == 196);
    CHECK(p.find("base")->node_of[2] == p.find("cars")->node_of[2]);
    CHECK(p.find("base")->node_of[3] != p.find("cars")->node_of[3]);
    CHECK(validate_manifest(p.dag));
    CHECK(summary_of(p).find("3 of 8 nodes") != std::string::npos);
  }

  TEST_CASE("nodes merge only when their inputs merged: decided from the inputs up") {
    auto p = plan_of({base(), finetuned()});
    // b0 merges; b1 differs; b2 has b2's block but reads another b1, so it does not merge.
    CHECK(p.merged.size() == 1);
    CHECK(p.dag.nodes.size() == 7);
    CHECK(p.find("ft")->node_of[0] == p.find("base")->node_of[0]);
    CHECK(p.find("ft")->node_of[2] != p.find("base")->node_of[2]);
    // Bytes count blobs once even where nodes do not merge (b2's blob is common).
    CHECK(p.savings.bytes_saved() == shared_bytes(base(), finetuned()));
  }

  TEST_CASE("merging is order-independent") {
    auto a = plan_of({base(), cars(), finetuned(), scratch()});
    auto b = plan_of({scratch(), finetuned(), base(), cars()});
    auto c = plan_of({cars(), scratch(), base(), finetuned()});
    CHECK(text_of(a) == text_of(b));
    CHECK(text_of(a) == text_of(c));
    CHECK(a.members.front().model == "base:1");
  }

  TEST_CASE("merging is idempotent") {
    auto once = plan_of({base(), cars()});
    CHECK(text_of(plan_of({base(), cars(), cars(), base()})) == text_of(once));
    // Fusing the fused DAG again with its own members adds no node.
    auto again = plan_of({once.dag, base(), cars()}, "g2");
    CHECK(again.dag.nodes.size() == once.dag.nodes.size());
    auto single = plan_of({base()});
    CHECK(plan_of({base(), base()}).dag.nodes.size() == single.dag.nodes.size());
  }

  TEST_CASE("a model fused with itself merges completely") {
    auto copy = base();
    copy.name = "base-copy";
    auto p = plan_of({base(), copy});
    CHECK(p.dag.nodes.size() == base().nodes.size());
    CHECK(p.merged.size() == base().nodes.size());
    CHECK(p.savings.fused_bytes == parameter_bytes(base()));
    CHECK(p.savings.bytes_saved() == parameter_bytes(base()));
    CHECK(p.savings.macs_saved_fraction() == doctest::Approx(0.5));
    CHECK(p.dag.outputs.size() == 2);
  }

  TEST_CASE("unrelated models do not merge") {
    auto p = plan_of({base(), scratch()});
    CHECK(p.merged.empty());
    CHECK(p.dag.nodes.size() == base().nodes.size() + scratch().nodes.size());
    CHECK(p.savings.bytes_saved() == 0);
    CHECK(p.savings.macs_saved_fraction() == 0.0);
    CHECK(p.dag.inputs.size() == 1); // they still read the same input
  }

  TEST_CASE("different input names bound to the same request input count as the same input") {
    auto renamed = chain("cam", {1, 2, 3}, 30, 5, "frame");
    auto p = plan_of({base(), renamed});
    REQUIRE(p.dag.inputs.size() == 1);
    CHECK(p.dag.inputs[0].name == "image"); // named after the first member's input
    CHECK(p.merged.size() == 3);
    CHECK(p.find("cam")->input_of == std::vector<uint32_t>{0});
  }

  TEST_CASE("explicit bindings can keep inputs apart or join them") {
    auto other = chain("other", {1, 2, 3}, 31);
    auto apart = plan_fusion("g", {base(), other}, {{"other", "image", "second"}});
    REQUIRE(apart);
    CHECK(apart->dag.inputs.size() == 2);
    CHECK(apart->merged.empty()); // same blocks, different inputs
    auto joined = plan_fusion("g", {base(), other}, {{"other:1", "image", "image"}});
    REQUIRE(joined);
    CHECK(joined->merged.size() == 3);
    auto bad = plan_fusion("g", {base(), other}, {{"other", "nope", "image"}});
    REQUIRE_FALSE(bad);
    CHECK(code_of(bad.error()) == ec::invalid_argument);
    CHECK(describe(bad.error()).find("nope") != std::string::npos);
    auto stranger = plan_fusion("g", {base()}, {{"nobody", "image", "image"}});
    REQUIRE_FALSE(stranger);
    CHECK(code_of(stranger.error()) == ec::invalid_argument);
  }

  TEST_CASE("inputs that cannot be bound together are refused, naming models and inputs") {
    auto doubles = chain("doubles", {1, 2, 3}, 40, 10, "pixels", {dtype::float64, {-1, 3, 8, 8}});
    auto dt = plan_fusion("g", {base(), doubles});
    REQUIRE_FALSE(dt);
    CHECK(code_of(dt.error()) == ec::dtype_mismatch);
    auto text = describe(dt.error());
    for (const char* word : {"base:1", "doubles:1", "pixels", "image", "float64"})
      CHECK_MESSAGE(text.find(word) != std::string::npos, word);
    auto big = chain("big", {1, 2, 3}, 41, 10, "image", {dtype::float32, {-1, 3, 16, 16}});
    auto sh = plan_fusion("g", {big, base()});
    REQUIRE_FALSE(sh);
    CHECK(code_of(sh.error()) == ec::shape_mismatch);
    CHECK(describe(sh.error()).find("big:1") != std::string::npos);
    CHECK(code_of(test::error_of(plan_fusion("g", {}))) == ec::invalid_argument);
    auto broken = base();
    broken.nodes[1].inputs = {"missing"};
    CHECK(code_of(test::error_of(plan_fusion("g", {broken, cars()}))) == ec::missing_input);
  }

  TEST_CASE("members and their sub-DAGs are found by name; unknown models are refused") {
    auto p = plan_of({base(), cars(), scratch()});
    auto outs = p.outputs_of({"scratch", "base:1"});
    REQUIRE(outs);
    CHECK(*outs ==
          std::vector<uint32_t>{p.find("scratch")->output_of[0], p.find("base")->output_of[0]});
    CHECK(p.outputs_of({})->size() == 3);
    auto nodes = p.nodes_of({"cars"});
    REQUIRE(nodes);
    CHECK(nodes->size() == cars().nodes.size());
    CHECK(p.nodes_of({})->size() == p.dag.nodes.size());
    CHECK(code_of(test::error_of(p.outputs_of({"vit"}))) == ec::unknown_model);
    CHECK(code_of(test::error_of(p.nodes_of({"vit"}))) == ec::unknown_model);
    std::vector<model_manifest> catalogue{base(), cars()};
    auto v2 = base();
    v2.version = 2;
    catalogue.push_back(v2);
    auto picked = select_models({"base", "cars:1", "base:1"}, catalogue);
    REQUIRE(picked);
    CHECK((*picked)[0].version == 2);
    CHECK((*picked)[2].version == 1);
    auto missing = select_models({"base", "resnet-cars"}, catalogue);
    REQUIRE_FALSE(missing);
    CHECK(code_of(missing.error()) == ec::unknown_model);
    CHECK(describe(missing.error()).find("resnet-cars") != std::string::npos);
  }

  TEST_CASE("two versions of a model get distinct labels") {
    auto v2 = cars();
    v2.version = 2;
    auto p = plan_of({cars(), v2});
    CHECK(p.members[0].label == "cars@1");
    CHECK(p.members[1].label == "cars@2");
    CHECK(p.dag.nodes.size() == cars().nodes.size());
  }

  TEST_CASE("a group definition round-trips through JSON and bad fields are named") {
    group_definition g{"cams", {"base:1", "cars:1"}, {{"cars", "image", "frame"}}};
    auto back = parse_group_definition(to_json_text(g));
    REQUIRE(back);
    CHECK(back->name == "cams");
    CHECK(back->models == g.models);
    REQUIRE(back->bindings.size() == 1);
    CHECK(back->bindings[0].group_input == "frame");
    auto bad =
        parse_group_definition(R"({"format": "tessera.group/1", "name": "x", "models": []})");
    REQUIRE_FALSE(bad);
    CHECK(describe(bad.error()).find("models") != std::string::npos);
    CHECK_FALSE(parse_group_definition("{"));
  }
}

TEST_SUITE("fusion") {
  TEST_CASE("co-requests are counted within the window, once per partner") {
    co_request_counter c{10.0};
    c.record("a:1", 0);
    c.record("b:1", 5);
    c.record("b:1", 6);   // pairs with a again: a is still in the window
    c.record("c:1", 100); // alone
    c.record("a:1", 104); // pairs with c
    CHECK(c.requests("b:1") == 2);
    CHECK(c.together("a:1", "b:1") == 2);
    CHECK(c.together("b:1", "a:1") == 2);
    CHECK(c.together("a:1", "c:1") == 1);
    CHECK(c.together("b:1", "c:1") == 0);
    CHECK(c.affinity("a:1", "c:1") == doctest::Approx(1.0));
    CHECK(c.affinity("b:1", "c:1") == 0.0);
  }

  TEST_CASE("the policy groups co-requested models that share bytes, and nothing else") {
    auto ft = finetuned();
    std::vector<model_manifest> catalogue{base(), cars(), ft, scratch()};
    co_request_counter c{5.0};
    for (int i = 0; i < 50; ++i) {
      double t = i * 100.0;
      c.record("base:1", t);
      c.record("cars:1", t + 1);
      c.record("scratch:1", t + 2); // co-requested but shares nothing
      if (i % 10 == 0)
        c.record("ft:1", t + 3); // shares bytes, rarely co-requested... but always with the others
    }
    grouping_options opts;
    opts.min_together = 20;
    auto groups = propose_groups(catalogue, c, opts);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].models == std::vector<std::string>{"base:1", "cars:1"});
    CHECK(groups[0].savings.bytes_saved() == shared_bytes(base(), cars()));
    opts.min_together = 5; // now ft qualifies too
    groups = propose_groups(catalogue, c, opts);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].models == std::vector<std::string>{"base:1", "cars:1", "ft:1"});
    opts.max_members = 2;
    groups = propose_groups(catalogue, c, opts);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].models.size() == 2);
    opts.min_shared_fraction = 0.0; // scratch may now join: no bytes in common needed
    opts.max_members = 4;
    groups = propose_groups(catalogue, c, opts);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].models.size() == 4);
  }

  TEST_CASE("a pass over several members' requests: shared inputs, conflicts, unread inputs") {
    auto other = chain("other", {1, 2, 3}, 31);
    // base reads "image"; other reads its own group input "second".
    auto p = plan_of({base(), cars(), other}, "g");
    auto two = plan_fusion("g2", {base(), other}, {{"other", "image", "second"}});
    REQUIRE(two);
    auto frame = random_tensor(with_batch(image_spec, 2), 1);
    auto copy = tensor_buffer::copy_of(frame.spec, frame.data);
    auto different = random_tensor(with_batch(image_spec, 2), 2);
    std::vector<tensor_buffer> in_frame{frame}, in_copy{copy}, in_other{different};
    CHECK(same_tensor(frame, copy));
    CHECK_FALSE(same_tensor(frame, different));
    // Byte-equal inputs for two members share the pass; different ones do not.
    std::vector<tensor_buffer> pass;
    add_to_pass(p, pass, {p.find("base"), &in_frame});
    CHECK(shares_pass(p, pass, {p.find("cars"), &in_copy}));
    CHECK_FALSE(shares_pass(p, pass, {p.find("cars"), &in_other}));
    auto ok = group_inputs_for(p, {{p.find("base"), &in_frame}, {p.find("cars"), &in_copy}});
    REQUIRE(ok);
    REQUIRE(ok->size() == 1);
    CHECK(same_tensor((*ok)[0], frame));
    auto clash = group_inputs_for(p, {{p.find("base"), &in_frame}, {p.find("cars"), &in_other}});
    REQUIRE_FALSE(clash);
    CHECK(code_of(clash.error()) == ec::invalid_argument);
    CHECK(describe(clash.error()).find("image") != std::string::npos);
    // A member reading another group input shares nothing with the pass, and
    // a request for one member gets zeros for the input it does not read.
    std::vector<tensor_buffer> pass2;
    add_to_pass(*two, pass2, {two->find("base"), &in_frame});
    CHECK_FALSE(shares_pass(*two, pass2, {two->find("other"), &in_other}));
    auto alone = group_inputs_for(*two, {{two->find("base"), &in_frame}});
    REQUIRE(alone);
    REQUIRE(alone->size() == 2);
    CHECK(same_tensor((*alone)[0], frame));
    CHECK((*alone)[1].spec == with_batch(image_spec, 2));
    auto zeros = std::vector<float>(static_cast<size_t>((*alone)[1].bytes / sizeof(float)), 1.0f);
    std::memcpy(zeros.data(), (*alone)[1].data, (*alone)[1].bytes);
    CHECK(std::all_of(zeros.begin(), zeros.end(), [](float v) { return v == 0.0f; }));
    std::vector<tensor_buffer> none;
    CHECK_FALSE(group_inputs_for(p, {{p.find("base"), &none}}));
  }

  TEST_CASE("a member's outputs are picked from a pass by its label and renamed") {
    auto p = plan_of({base(), cars()});
    std::vector<std::string> names{"base/logits", "cars/logits"};
    std::vector<tensor_buffer> tensors{random_tensor({dtype::float32, {1, 10}}, 1),
                                       random_tensor({dtype::float32, {1, 196}}, 2)};
    std::vector<std::string> got_names;
    std::vector<tensor_buffer> got;
    member_outputs_of(*p.find("cars"), names, tensors, {}, got_names, got);
    CHECK(got_names == std::vector<std::string>{"logits"});
    REQUIRE(got.size() == 1);
    CHECK(same_tensor(got[0], tensors[1]));
    got_names.clear();
    got.clear();
    member_outputs_of(*p.find("base"), names, tensors, {"other"}, got_names, got);
    CHECK(got_names.empty()); // not asked for
  }
}
