#include "error_of.hpp"
#include "residency_fixture.hpp"
#include "stage_files.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/manifest_json.hpp"
#include "tessera/torch/torch_executor.hpp"
#include "tessera/torch/torchscript_files.hpp"
#include "why.hpp"
#include "zoo_fixture.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace tessera;
namespace fs = std::filesystem;

namespace {

struct runner {
  test::residency_rig rig;
  std::unique_ptr<backend::model_executor> exec;

  runner(const store::block_store& st, load_mode mode = load_mode::in_place)
    : rig(st, 1ull << 30, mode) {
    auto e = torch_backend::make_torch_executor({}, *rig.mgr, st.skeletons());
    REQUIRE(e);
    exec = std::move(*e);
  }

  std::vector<tensor_buffer> run(const model_manifest& m, const std::vector<tensor_buffer>& in) {
    auto loaded = exec->load(m);
    REQUIRE_MESSAGE(loaded, test::why(loaded));
    auto out = exec->run(**loaded, in);
    REQUIRE_MESSAGE(out, test::why(out));
    return *out;
  }
};

std::vector<tensor_buffer> inputs_for(const model_manifest& m, int64_t batch, uint64_t seed) {
  std::vector<tensor_buffer> in;
  for (const auto& i : m.inputs)
    in.push_back(random_tensor(with_batch(i.spec, batch), seed));
  return in;
}

bool all_finite(const tensor_buffer& t) {
  const auto* f = reinterpret_cast<const float*>(t.data);
  for (size_t i = 0; i < t.bytes / 4; ++i)
    if (!std::isfinite(f[i]))
      return false;
  return true;
}

bool same_bytes(const tensor_buffer& a, const tensor_buffer& b) {
  return a.spec == b.spec && std::memcmp(a.data, b.data, a.bytes) == 0;
}

} // namespace

TEST_SUITE("execution") {
  TEST_CASE("every zoo model runs a batch to finite outputs of the declared shape") {
    auto& zoo = test::small_zoo::get();
    runner r{*zoo.store};
    for (const auto& e : zoo.models) {
      CAPTURE(e.manifest.name);
      auto out = r.run(e.manifest, inputs_for(e.manifest, 2, 5));
      REQUIRE(out.size() == 1);
      CHECK(out[0].spec.shape[0] == 2);
      CHECK(e.manifest.outputs[0].spec.accepts(out[0].spec));
      CHECK(all_finite(out[0]));
    }
  }

  TEST_CASE("in-place and copy loads give bit-identical outputs") {
    auto& zoo = test::small_zoo::get();
    runner mapped{*zoo.store, load_mode::in_place};
    runner copied{*zoo.store, load_mode::copy};
    for (const char* name : {"resnet18", "mobilenetv2", "vit-tiny"}) {
      const auto& m = zoo.manifest(name);
      auto in = inputs_for(m, 3, 11);
      CHECK(same_bytes(mapped.run(m, in)[0], copied.run(m, in)[0]));
    }
  }

  TEST_CASE("the exported TorchScript file computes what the block DAG computes") {
    auto& zoo = test::small_zoo::get();
    runner r{*zoo.store};
    test::scratch_dir dir{"export"};
    for (const char* name : {"resnet18", "mobilenetv2", "vit-tiny"}) {
      CAPTURE(name);
      const auto& m = zoo.manifest(name);
      auto path = dir.path() + "/" + name + ".pt";
      auto err = torch_backend::export_torchscript(*zoo.store, m, path);
      REQUIRE_MESSAGE(!err, describe(err));
      auto in = inputs_for(m, 2, 3);
      auto direct = torch_backend::run_torchscript_file(path, in);
      REQUIRE(direct);
      auto diff = max_relative_difference((*direct)[0], r.run(m, in)[0]);
      CHECK(diff >= 0.0);
      CHECK(diff <= 1e-6);
    }
  }

  TEST_CASE("a TorchScript file imported as one block equals the original, bit for bit, and "
            "dedupes its tensors") {
    auto& zoo = test::small_zoo::get();
    test::scratch_dir dir{"import"};
    const auto& m = zoo.manifest("resnet18");
    auto path = dir.path() + "/user.pt";
    REQUIRE_FALSE(torch_backend::export_torchscript(*zoo.store, m, path));
    auto blobs_before = zoo.store->blobs().list().size();
    torch_backend::import_options opts;
    opts.name = "user-resnet";
    opts.inputs = m.inputs;
    opts.output_names = {"logits"};
    opts.blocks = 1; // automatic blocks: the auto_blocks suite
    auto imported = torch_backend::import_torchscript_file(*zoo.store, path, opts);
    REQUIRE_MESSAGE(imported, test::why(imported));
    CHECK(imported->nodes.size() == 1);
    CHECK(imported->outputs[0].spec == m.outputs[0].spec);
    // Same tensors as the zoo model: nothing new is stored.
    CHECK(zoo.store->blobs().list().size() == blobs_before);
    CHECK(shared_bytes(*imported, m) == parameter_bytes(m));
    runner r{*zoo.store};
    for (int64_t batch : {1, 4}) {
      auto in = inputs_for(m, batch, 21);
      auto direct = torch_backend::run_torchscript_file(path, in);
      REQUIRE(direct);
      CHECK(same_bytes((*direct)[0], r.run(*imported, in)[0]));
    }
  }

  TEST_CASE("a folder of TorchScript stages imports as a multi-block model") {
    auto& zoo = test::small_zoo::get();
    test::scratch_dir dir{"stages"};
    // A chain of single-input blocks (ResNet-18's last stage, cut per conv, is not).
    const auto& m = zoo.manifest("vit-tiny");
    {
      std::ofstream dag{dir.path() + "/dag.json"};
      dag << "{\"name\": \"staged-resnet\", \"version\": 1,\n \"inputs\": [{\"name\": \"image\", "
             "\"dtype\": \"float32\", \"shape\": [-1, 3, 224, 224]}],\n \"outputs\": [{\"name\": \"logits\", "
             "\"from\": \""
          << m.nodes.back().name << "\", \"dtype\": \"float32\", \"shape\": "
          << shape_to_string(m.outputs[0].spec.shape) << "}],\n \"stages\": [";
      tensor_spec in_spec = m.inputs[0].spec;
      for (size_t i = 0; i < m.nodes.size(); ++i) {
        auto stage = test::stage_of(m, i, in_spec);
        auto file = "stage" + std::to_string(i) + ".pt";
        REQUIRE_FALSE(torch_backend::export_torchscript(*zoo.store, stage, dir.path() + "/" + file));
        dag << (i > 0 ? ",\n" : "\n") << "  {\"name\": \"" << m.nodes[i].name << "\", \"file\": \"" << file
            << "\", \"inputs\": [\"" << (i == 0 ? "image" : m.nodes[i - 1].name) << "\"]}";
        in_spec = *m.nodes[i].output;
      }
      dag << "]}\n";
    }
    auto imported = torch_backend::import_torchscript_dag(*zoo.store, dir.path());
    REQUIRE_MESSAGE(imported, test::why(imported));
    CHECK(imported->nodes.size() == m.nodes.size());
    CHECK(shared_bytes(*imported, m) == parameter_bytes(m));
    runner r{*zoo.store};
    auto in = inputs_for(m, 2, 8);
    CHECK(max_relative_difference(r.run(*imported, in)[0], r.run(m, in)[0]) <= 1e-6);
  }

  TEST_CASE("a second model of a family reads only the blocks it does not share") {
    auto& zoo = test::small_zoo::get();
    for (const auto& e : zoo.models) {
      if (e.derived_from.empty())
        continue;
      CAPTURE(e.manifest.name);
      const auto& base = zoo.manifest(e.derived_from);
      runner r{*zoo.store, load_mode::copy};
      auto& exec = r.exec;
      backend::load_report first, second;
      auto a = exec->load(base, &first);
      REQUIRE(a);
      CHECK(first.bytes_read == parameter_bytes(base));
      auto b = exec->load(e.manifest, &second);
      REQUIRE(b);
      CHECK(second.bytes == parameter_bytes(e.manifest));
      CHECK(second.bytes_read == parameter_bytes(e.manifest) - shared_bytes(base, e.manifest));
      // Unloading both models and dropping the cache releases every byte.
      exec->unload(*a);
      exec->unload(*b);
      CHECK(code_of(test::error_of(exec->run(**a, inputs_for(base, 1, 1)))) == ec::unloading);
      CHECK(r.rig.mgr->stats().device.referenced_bytes == 0);
      r.rig.mgr->drop_cached();
      CHECK(r.rig.mgr->stats().device.used_bytes == 0);
      CHECK(r.rig.arena.allocated_bytes() == 0);
    }
  }

  TEST_CASE("bad inputs get specific errors and the model keeps working") {
    auto& zoo = test::small_zoo::get();
    runner r{*zoo.store};
    const auto& m = zoo.manifest("mobilenetv2");
    auto loaded = r.exec->load(m);
    REQUIRE(loaded);
    auto wrong_shape = random_tensor({dtype::float32, {1, 3, 225, 224}}, 1);
    CHECK(code_of(test::error_of(r.exec->run(**loaded, {wrong_shape}))) == ec::shape_mismatch);
    auto wrong_type = random_tensor({dtype::float64, {1, 3, 224, 224}}, 1);
    CHECK(code_of(test::error_of(r.exec->run(**loaded, {wrong_type}))) == ec::dtype_mismatch);
    CHECK(code_of(test::error_of(r.exec->run(**loaded, {}))) == ec::missing_input);
    CHECK(r.exec->run(**loaded, inputs_for(m, 1, 1)));
  }

  TEST_CASE("a corrupt blob fails the load with its id and the model, leaving nothing resident") {
    auto zoo = test::small_zoo::build(0.1);
    const auto& m = zoo.manifest("mobilenetv2");
    auto victim = m.nodes[5].params[0].blob;
    {
      std::fstream f{zoo.store->blobs().path_of(victim), std::ios::in | std::ios::out | std::ios::binary};
      f.seekp(8); // in the data, which comes first
      f.write("\x7f\x7f\x7f\x7f", 4);
    }
    runner r{*zoo.store};
    auto loaded = r.exec->load(m);
    REQUIRE_FALSE(loaded);
    CHECK(code_of(loaded.error()) == ec::corrupt_blob);
    auto text = describe(loaded.error());
    CHECK(text.find(victim.to_hex()) != std::string::npos);
    CHECK(text.find("mobilenetv2") != std::string::npos);
    CHECK(r.rig.mgr->stats().device.used_bytes == 0);
  }

  TEST_CASE("an unknown device is refused with a clear error") {
    auto& zoo = test::small_zoo::get();
    test::residency_rig rig{*zoo.store, 1ull << 30, load_mode::in_place};
    torch_backend::torch_options opts;
    opts.device = "cuda:0";
    auto exec = torch_backend::make_torch_executor(opts, *rig.mgr, zoo.store->skeletons());
    if (torch_backend::cuda_available()) {
      CHECK(exec);
    } else {
      REQUIRE_FALSE(exec);
      CHECK(code_of(exec.error()) == ec::unsupported);
    }
  }
}
