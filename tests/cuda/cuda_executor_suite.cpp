#include "error_text.hpp"
#include "mobilenet_store.hpp"
#include "skip.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/node_config.hpp"
#include "tessera/residency/cpu_arena.hpp"
#include "tessera/residency/residency_manager.hpp"
#include "tessera/torch/torch_executor.hpp"

#include <doctest/doctest.h>

using namespace tessera;
using namespace tessera::test;

namespace {

struct executor_rig {
  residency::cpu_arena arena;
  std::unique_ptr<residency::residency_manager> mgr;

  explicit executor_rig(const store::block_store& st) {
    residency::residency_options opts;
    opts.device_budget_bytes = 1ull << 30;
    mgr = std::make_unique<residency::residency_manager>(st, arena, opts);
  }
};

} // namespace

TEST_SUITE("cuda_executor") {
  TEST_CASE("a node configured with device = cuda:0 gets a clear error on a CPU-only LibTorch") {
    node_config cfg;
    REQUIRE_FALSE(set_config_value(cfg, "device", "cuda:0"));
    CHECK(cfg.device == "cuda:0");
    auto& zoo = mobilenet_store::get();
    executor_rig rig{*zoo.store};
    torch_backend::torch_options opts;
    opts.device = cfg.device;
    auto exec = torch_backend::make_torch_executor(opts, *rig.mgr, zoo.store->skeletons());
    if (torch_backend::cuda_available()) {
      REQUIRE(exec);
      CHECK((*exec)->device() == "cuda:0");
      return;
    }
    MESSAGE("this LibTorch has no CUDA or no GPU is present: checking the refusal");
    REQUIRE_FALSE(exec);
    CHECK(code_of(exec.error()) == ec::unsupported);
    CHECK(describe(exec.error()).find("cuda:0") != std::string::npos);
  }

  TEST_CASE("GPU: outputs on cuda:0 equal the CPU's within 1e-3 (relative)") {
    if (!torch_backend::cuda_available()) {
      TESSERA_SKIP("this LibTorch build has no CUDA or no GPU is present");
    }
    auto& zoo = mobilenet_store::get();
    executor_rig rig{*zoo.store};
    torch_backend::torch_options gpu_opts;
    gpu_opts.device = "cuda:0";
    auto cpu = torch_backend::make_torch_executor({}, *rig.mgr, zoo.store->skeletons());
    auto gpu = torch_backend::make_torch_executor(gpu_opts, *rig.mgr, zoo.store->skeletons());
    REQUIRE(cpu);
    REQUIRE(gpu);
    const auto& m = zoo.base;
    std::vector<tensor_buffer> in;
    for (const auto& i : m.inputs)
      in.push_back(random_tensor(with_batch(i.spec, 2), 11));
    auto cm = (*cpu)->load(m);
    auto gm = (*gpu)->load(m);
    REQUIRE(cm);
    REQUIRE(gm);
    auto co = (*cpu)->run(**cm, in);
    auto go = (*gpu)->run(**gm, in);
    REQUIRE_MESSAGE(co, error_text(co));
    REQUIRE_MESSAGE(go, error_text(go));
    REQUIRE(co->size() == go->size());
    for (size_t i = 0; i < co->size(); ++i) {
      auto diff = max_relative_difference((*co)[i], (*go)[i]);
      CHECK(diff >= 0.0);
      CHECK(diff <= 1e-3);
    }
  }
}
