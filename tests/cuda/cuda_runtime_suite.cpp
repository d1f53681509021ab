#include "error_text.hpp"
#include "mobilenet_store.hpp"
#include "skip.hpp"
#include "tessera/core/error.hpp"
#include "tessera/cuda/block_pipeline.hpp"
#include "tessera/cuda/caching_device_memory.hpp"
#include "tessera/cuda/cuda_devices.hpp"
#include "tessera/cuda/memory_figures.hpp"
#include "tessera/cuda/staged_copier.hpp"
#include "tessera/residency/cpu_arena.hpp"
#include "tessera/residency/residency_manager.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <random>

using namespace tessera;
using namespace tessera::test;

namespace {

/// The first GPU, or nothing with the reason printed: GPU cases skip on it.
std::optional<cuda::gpu_info> first_gpu() {
  auto inv = cuda::probe_cuda();
  if (inv.gpus.empty()) {
    ++tessera::test::skipped_cases_counter(); // its caller returns
    MESSAGE("skipped: no GPU (" << inv.reason << ")");
    return std::nullopt;
  }
  return inv.gpus.front();
}

} // namespace

TEST_SUITE("cuda_runtime") {
  TEST_CASE("the build has the CUDA runtime parts exactly when CMake enabled them") {
    CHECK(cuda::built_with_cuda() == (TESSERA_TEST_CUDA_ENABLED != 0));
    auto inv = cuda::probe_cuda();
    CHECK(inv.built_with_cuda == cuda::built_with_cuda());
    if (inv.built_with_cuda)
      CHECK(inv.runtime_version > 0);
    MESSAGE("CUDA runtime " << inv.runtime_version << ", driver " << inv.driver_version << ", "
                            << inv.gpus.size() << " GPU(s)"
                            << std::string{inv.reason.empty() ? "" : ": "} << inv.reason);
  }

  TEST_CASE("without a GPU every runtime entry point fails with `unsupported`, and says why") {
    auto inv = cuda::probe_cuda();
    if (!inv.gpus.empty()) {
      TESSERA_SKIP("this machine has a GPU");
    }
    CHECK_FALSE(inv.reason.empty());
    auto memory = cuda::make_cuda_device_memory(0);
    REQUIRE_FALSE(memory);
    CHECK(code_of(memory.error()) == ec::unsupported);
    CHECK(describe(memory.error()).find("cuda:0") != std::string::npos);
    auto engine = cuda::make_cuda_copy_engine(0);
    REQUIRE_FALSE(engine);
    CHECK(code_of(engine.error()) == ec::unsupported);
    auto pinned = cuda::make_pinned_host_allocator();
    REQUIRE_FALSE(pinned);
    CHECK(code_of(pinned.error()) == ec::unsupported);
    auto driver = cuda::read_driver_memory(0);
    REQUIRE_FALSE(driver);
    CHECK(code_of(driver.error()) == ec::unsupported);
  }

  TEST_CASE("device strings name a GPU index") {
    CHECK(*cuda::cuda_device_index("cuda") == 0);
    CHECK(*cuda::cuda_device_index("cuda:0") == 0);
    CHECK(*cuda::cuda_device_index("cuda:3") == 3);
    for (const char* bad : {"cpu", "cuda:", "cuda:x", "cuda:-1", "gpu:0", "cuda:123456"}) {
      CAPTURE(bad);
      auto i = cuda::cuda_device_index(bad);
      REQUIRE_FALSE(i);
      CHECK(code_of(i.error()) == ec::bad_config);
    }
  }

  TEST_CASE("unified memory (Jetson) chooses in-place use; a discrete GPU chooses copies") {
    cuda::gpu_info jetson;
    jetson.integrated = true;
    jetson.can_map_host_memory = true;
    CHECK(cuda::unified_memory(jetson));
    CHECK(cuda::default_load_mode(jetson) == load_mode::in_place);
    cuda::gpu_info discrete;
    discrete.can_map_host_memory = true;
    CHECK(cuda::default_load_mode(discrete) == load_mode::copy);
    // HMM lets a discrete GPU read pageable memory, but over the bus: still copy.
    discrete.pageable_memory_access = true;
    CHECK_FALSE(cuda::unified_memory(discrete));
    CHECK(cuda::default_load_mode(discrete) == load_mode::copy);
    cuda::gpu_info integrated_unmappable;
    integrated_unmappable.integrated = true;
    CHECK(cuda::default_load_mode(integrated_unmappable) == load_mode::copy);
  }

  TEST_CASE("GPU: pinned staging and the copy engine move bytes intact, block after block") {
    auto gpu = first_gpu();
    if (!gpu)
      return;
    auto memory = cuda::make_cuda_device_memory(gpu->index);
    REQUIRE_MESSAGE(memory, error_text(memory));
    auto engine = cuda::make_cuda_copy_engine(gpu->index);
    REQUIRE_MESSAGE(engine, error_text(engine));
    auto pinned = cuda::make_pinned_host_allocator();
    REQUIRE(pinned);
    auto pool = cuda::pinned_staging_pool::make(std::move(*pinned), 2, 1u << 20);
    REQUIRE(pool);
    CHECK((*pool)->figures().page_locked);
    constexpr size_t block_bytes = (5u << 20) + 4097;
    std::vector<std::vector<std::byte>> host(6, std::vector<std::byte>(block_bytes));
    std::mt19937 rng{5};
    for (auto& h : host)
      for (auto& b : h)
        b = static_cast<std::byte>(rng());
    std::vector<backend::device_block> slots;
    for (int i = 0; i < 2; ++i) {
      auto b = (*memory)->allocate(block_bytes);
      REQUIRE(b);
      slots.push_back(*b);
    }
    cuda::staged_copier copier{**engine, **pool, 2};
    std::vector<bool> right(host.size());
    cuda::block_steps steps;
    steps.transfer = [&](size_t k) {
      return copier.copy(slots[k % 2].data, block_bytes,
                         [&](std::byte* buf, uint64_t off, size_t n) {
                           std::memcpy(buf, host[k].data() + off, n);
                           return caf::error{};
                         });
    };
    steps.compute = [](size_t) { return caf::error{}; }; // no kernels: the order is what is tested
    steps.release = [&](size_t k) {
      std::vector<std::byte> back(block_bytes);
      right[k] =
          !(*memory)->copy_to_host(back.data(), slots[k % 2].data, block_bytes) && back == host[k];
    };
    auto run = cuda::run_block_pipeline(**engine, host.size(), 2, steps);
    REQUIRE_MESSAGE(run, error_text(run));
    for (size_t k = 0; k < host.size(); ++k)
      CHECK(right[k]);
  }

  TEST_CASE("GPU: memory is back at baseline after 100 load and unload cycles") {
    auto gpu = first_gpu();
    if (!gpu)
      return;
    auto memory = cuda::make_cuda_device_memory(gpu->index);
    REQUIRE_MESSAGE(memory, error_text(memory));
    auto& zoo = mobilenet_store::get();
    residency::residency_options opts;
    opts.device_budget_bytes = 1ull << 30;
    opts.mode = load_mode::copy;
    opts.keep_unloaded = false;
    auto baseline = (*memory)->driver_view(); // after the context exists
    REQUIRE(baseline);
    {
      residency::residency_manager mgr{*zoo.store, **memory, opts};
      const auto& m = zoo.base;
      for (int cycle = 0; cycle < 100; ++cycle) {
        auto lease = mgr.load(m.name, residency::blob_refs_of(m));
        REQUIRE_MESSAGE(lease, error_text(lease));
        mgr.unload(*lease);
      }
      CHECK(mgr.stats().device.used_bytes == 0);
    }
    CHECK((*memory)->allocated_bytes() == 0);
    (*memory)->trim();
    auto after = (*memory)->driver_view();
    REQUIRE(after);
    // The driver allocates in pages of up to 2 MiB; allow one page of slack.
    CHECK(after->free_bytes + (2u << 20) >= baseline->free_bytes);
    MESSAGE(cuda::describe(cuda::sample_device_memory(**memory)));
  }
}
