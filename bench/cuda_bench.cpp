// `tessera bench cuda`: host-to-device load throughput through Tessera's staged
// copy pipeline (pinned double buffers on a copy stream, each chunk filled from
// pageable host memory as a file read would), against one plain cudaMemcpy from
// pinned memory, measured in the same run. Without a GPU it prints why and
// exits 0 with an empty metrics object and a "skipped" reason (docs/cuda.md).
#include "bench_report.hpp"

#include "tessera/core/error.hpp"
#include "tessera/cuda/caching_device_memory.hpp"
#include "tessera/cuda/cuda_devices.hpp"
#include "tessera/cuda/h2d_baseline.hpp"
#include "tessera/cuda/memory_figures.hpp"
#include "tessera/cuda/staged_copier.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

namespace tessera::bench {

namespace {

constexpr size_t staging_buffer_bytes = 4u << 20;

int skip(const bench_options& opts, const std::string& reason) {
  std::printf("bench cuda: skipped: no GPU (%s)\n", reason.c_str());
  std::printf("It would report h2d_fraction_of_peak, swap_latency_ratio_budget_1_3 and switch_ms; "
              "see docs/performance.md.\n");
  if (opts.json) {
    std::string quoted;
    for (char c : reason)
      if (c != '"' && c != '\\')
        quoted += c;
    std::printf("{\"bench\": \"cuda\", \"metrics\": {}, \"skipped\": \"no GPU: %s\"}\n",
                quoted.c_str());
  }
  std::fflush(stdout);
  return 0;
}

int fail(const caf::error& err) {
  std::fprintf(stderr, "bench cuda: %s\n", describe(err).c_str());
  return 1;
}

} // namespace

int run_cuda_bench(const bench_options& opts) {
  auto inv = cuda::probe_cuda();
  if (inv.gpus.empty())
    return skip(opts, inv.reason);
  const auto& gpu = inv.gpus.front();
  std::printf("GPU %d: %s, %.1f GiB, compute %d.%d, %d copy engine(s)%s\n", gpu.index,
              gpu.name.c_str(), static_cast<double>(gpu.total_bytes) / (1u << 30),
              gpu.compute_major, gpu.compute_minor, gpu.async_engines,
              gpu.integrated ? ", integrated (unified memory)" : "");
  auto bytes = static_cast<size_t>(256.0 * opts.scale) << 20;
  auto peak = cuda::pinned_memcpy_bytes_per_s(gpu.index, bytes, opts.repeat);
  if (!peak)
    return fail(peak.error());
  auto memory = cuda::make_cuda_device_memory(gpu.index);
  if (!memory)
    return fail(memory.error());
  auto engine = cuda::make_cuda_copy_engine(gpu.index);
  if (!engine)
    return fail(engine.error());
  auto pinned = cuda::make_pinned_host_allocator();
  if (!pinned)
    return fail(pinned.error());
  auto pool = cuda::pinned_staging_pool::make(std::move(*pinned), 2, staging_buffer_bytes);
  if (!pool)
    return fail(pool.error());
  auto dst = (*memory)->allocate(bytes);
  if (!dst)
    return fail(dst.error());
  std::vector<std::byte> source(bytes, std::byte{0x5a}); // pageable, like the page cache
  auto fill = [&](std::byte* buf, uint64_t off, size_t n) {
    std::memcpy(buf, source.data() + off, n);
    return caf::error{};
  };
  std::vector<double> rates;
  for (uint32_t i = 0; i <= opts.repeat; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    cuda::staged_copier copier{**engine, **pool, 2};
    if (auto err = copier.copy(dst->data, bytes, fill))
      return fail(err);
    if (auto err = copier.flush())
      return fail(err);
    std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    if (i > 0) // run 0 warms up
      rates.push_back(static_cast<double>(bytes) / dt.count());
  }
  double staged = median(rates);
  std::printf("%-44s %10.2f GB/s\n", "plain cudaMemcpy from pinned memory", *peak / 1e9);
  std::printf("%-44s %10.2f GB/s\n", "staged pipeline (2 x 4 MiB pinned buffers)", staged / 1e9);
  std::printf(
      "swap_latency_ratio_budget_1_3 and switch_ms need a CUDA LibTorch; not measured here.\n");
  std::printf("%s", cuda::describe(cuda::sample_device_memory(**memory)).c_str());
  bench_report report{"cuda"};
  report.metric("h2d_fraction_of_peak", staged / *peak);
  report.metric("pinned_memcpy_gb_per_s", *peak / 1e9);
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench
