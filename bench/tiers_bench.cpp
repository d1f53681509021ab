// `tessera bench tiers`: this machine's memcpy bandwidth and its read bandwidth
// from the store (page cache warm, and cold after dropping the pages), then the
// throughput of copy-mode loads, warm and cold, measured in the same run. Loads
// go through the residency manager, blob verification included. Besides wall
// time it counts the process's CPU time, whose ratios hold up on a machine that
// other work keeps busy (wall-time ratios there mostly measure the scheduler).
// Within a round the baseline and the warm loads take turns and each keeps its
// best of three, so a burst of other work cannot land on one side only.
#include "bench_store.hpp"
#include "load_rig.hpp"

#include "tessera/core/error.hpp"

#include <chrono>
#include <cstdio>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

namespace tessera::bench {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

/// CPU seconds this process has used, all threads together.
double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Bytes moved, in wall and in CPU seconds.
struct load_run {
  uint64_t bytes = 0;
  double seconds = 0.0;
  double cpu_seconds = 0.0;
  double bandwidth() const {
    return static_cast<double>(bytes) / seconds;
  }
  /// Bytes per CPU second: what the work costs, whatever else runs beside it.
  double cpu_bandwidth() const {
    return static_cast<double>(bytes) / cpu_seconds;
  }
};

/// The best of several runs, by wall time and by CPU time separately.
struct best_of {
  double wall = 0.0; ///< bytes per second
  double cpu = 0.0;  ///< bytes per CPU second
  void add(const load_run& r) {
    wall = std::max(wall, r.bandwidth());
    cpu = std::max(cpu, r.cpu_bandwidth());
  }
};

// Runs `work(part, parts)` on `threads` threads and returns the seconds taken.
template <class F>
double timed_parallel(unsigned threads, F work) {
  auto start = clock_type::now();
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t)
    pool.emplace_back([&, t] { work(t, threads); });
  work(0u, threads);
  for (auto& t : pool)
    t.join();
  return seconds_since(start);
}

// memcpy of the zoo's blobs into freshly allocated device memory (the CPU arena,
// as a load uses it, first-touch faults included), in bytes per second. Both
// sides then pay the same for new memory, and the ratio shows the loader's cost.
load_run memcpy_bandwidth(const std::vector<size_t>& blob_bytes, unsigned threads) {
  size_t total = 0;
  for (auto b : blob_bytes)
    total += b;
  std::vector<std::byte> src(total, std::byte{1});
  residency::cpu_arena arena;
  std::vector<std::vector<backend::device_block>> held(threads);
  auto cpu_start = process_cpu_seconds();
  auto secs = timed_parallel(threads, [&](unsigned part, unsigned parts) {
    size_t offset = 0;
    for (size_t i = 0; i < blob_bytes.size(); offset += blob_bytes[i], ++i) {
      if (i % parts != part)
        continue;
      auto block = arena.allocate(blob_bytes[i]);
      if (!block)
        return;
      std::memcpy(block->data, src.data() + offset, blob_bytes[i]);
      held[part].push_back(std::move(*block));
    }
  });
  return {total, secs, process_cpu_seconds() - cpu_start};
}

// Reads the files front to back in 1 MiB reads, split over threads; bytes per second.
double read_bandwidth(const std::vector<std::string>& files, unsigned threads) {
  std::atomic<uint64_t> total{0};
  auto secs = timed_parallel(threads, [&](unsigned part, unsigned parts) {
    std::vector<char> buf(1u << 20);
    for (size_t i = part; i < files.size(); i += parts) {
      int fd = ::open(files[i].c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
      for (ssize_t r; (r = ::read(fd, buf.data(), buf.size())) > 0;)
        total += static_cast<uint64_t>(r);
      ::close(fd);
    }
  });
  return static_cast<double>(total.load()) / secs;
}

// Loads every zoo model on a fresh manager; shared blobs are read once.
caf::expected<load_run> load_zoo(const bench_store& bs, load_mode mode, bool staged = false,
                                 bool verify = true) {
  residency::cpu_arena arena;
  residency::residency_options opts;
  opts.mode = mode;
  opts.force_staging = staged;
  opts.verify = verify;
  opts.device_budget_bytes = 16ull << 30;
  residency::residency_manager mgr{*bs.store, arena, opts};
  std::vector<residency::lease_ptr> held;
  auto cpu_start = process_cpu_seconds();
  auto start = clock_type::now();
  for (const auto& e : bs.zoo) {
    auto l = mgr.load(e.manifest.name, residency::blob_refs_of(e.manifest));
    if (!l)
      return l.error();
    held.push_back(*l);
  }
  load_run out;
  out.seconds = seconds_since(start);
  out.cpu_seconds = process_cpu_seconds() - cpu_start;
  out.bytes = mgr.stats().counters.bytes_read;
  return out;
}

double gbps(double bytes_per_s) {
  return bytes_per_s / 1e9;
}

} // namespace

int run_tiers_bench(const bench_options& opts) {
  constexpr int trials = 3; // per round, for the baseline and for each kind of warm load
  auto bs = open_bench_store(opts, "tiers");
  if (!bs) {
    std::fprintf(stderr, "bench tiers: %s\n", describe(bs.error()).c_str());
    return 1;
  }
  auto files = bs->blob_files();
  unsigned io_threads = residency::residency_options{}.io_threads;
  uint64_t zoo_bytes = 0;
  std::vector<size_t> blob_bytes;
  for (const auto& f : files) {
    blob_bytes.push_back(std::filesystem::file_size(f) - store::blob_header_bytes);
    zoo_bytes += blob_bytes.back();
  }
  std::vector<double> mem, warm, cold, copy_warm, copy_cold, in_place, staged, unverified;
  std::vector<double> mem_cpu, copy_cpu, staged_cpu, unverified_cpu; // bytes per CPU second
  // Untimed rounds first: the first fills of fresh memory in a process are
  // several times slower (the hypervisor backs guest pages on first touch).
  for (int i = 0; i < 3; ++i) {
    memcpy_bandwidth(blob_bytes, io_threads);
    if (auto warmup = load_zoo(*bs, load_mode::copy); !warmup) {
      std::fprintf(stderr, "bench tiers: %s\n", describe(warmup.error()).c_str());
      return 1;
    }
  }
  for (uint32_t r = 0; r < opts.repeat; ++r) {
    warm_page_cache(files);
    warm.push_back(std::max(read_bandwidth(files, 1), read_bandwidth(files, io_threads)));
    drop_page_cache(files);
    double cold1 = read_bandwidth(files, 1);
    drop_page_cache(files);
    cold.push_back(std::max(cold1, read_bandwidth(files, io_threads)));
    warm_page_cache(files);
    // Dropping and refilling the page cache leaves free memory fragmented, and
    // the next fill of fresh memory pays for compacting it into huge pages
    // (several times slower here, whichever measurement comes first). One
    // untimed fill first, so the baseline and the loads below start alike.
    memcpy_bandwidth(blob_bytes, io_threads);
    // The baseline and the warm loads take turns, `trials` times each, and
    // each side keeps its best: a burst of other work on this machine then
    // slows one trial of either side, not every sample of one of them.
    best_of mem_best, cw, ip, sg, uv;
    caf::error failed;
    for (int trial = 0; trial < trials && !failed; ++trial) {
      for (unsigned threads : {1u, io_threads}) // the baseline: the better of both
        mem_best.add(memcpy_bandwidth(blob_bytes, threads));
      auto load = [&](best_of& best, load_mode mode, bool staged, bool verify) {
        auto r = load_zoo(*bs, mode, staged, verify);
        if (!r)
          failed = r.error();
        else
          best.add(*r);
      };
      load(cw, load_mode::copy, false, true);
      load(ip, load_mode::in_place, false, true);
      load(sg, load_mode::copy, true, true);
      load(uv, load_mode::copy, false, false);
    }
    mem.push_back(mem_best.wall);
    mem_cpu.push_back(mem_best.cpu);
    drop_page_cache(files);
    auto cc = load_zoo(*bs, load_mode::copy);
    if (failed || !cc) {
      std::fprintf(stderr, "bench tiers: %s\n", describe(failed ? failed : cc.error()).c_str());
      return 1;
    }
    copy_warm.push_back(cw.wall);
    in_place.push_back(ip.wall);
    staged.push_back(sg.wall);
    unverified.push_back(uv.wall);
    copy_cpu.push_back(cw.cpu);
    staged_cpu.push_back(sg.cpu);
    unverified_cpu.push_back(uv.cpu);
    std::fprintf(
        stderr,
        "  run %u: memcpy %.2f, cold read %.2f, copy load %.2f, cold load %.2f, staged %.2f GB/s;"
        " per CPU second: memcpy %.2f, copy load %.2f\n",
        r + 1, gbps(mem.back()), gbps(cold.back()), gbps(cw.wall), gbps(cc->bandwidth()),
        gbps(sg.wall), gbps(mem_cpu.back()), gbps(copy_cpu.back()));
    copy_cold.push_back(cc->bandwidth());
  }
  warm_page_cache(files);
  std::printf("Bandwidths over the zoo's %.1f MB of blobs (median of %u; GB/s)\n", zoo_bytes / 1e6, opts.repeat);
  std::printf("  %-44s %8.2f\n", "memcpy into new device memory (baseline)", gbps(median(mem)));
  std::printf("  %-44s %8.2f\n", "read from the store, page cache warm", gbps(median(warm)));
  std::printf("  %-44s %8.2f\n", "read from the store, cold (baseline)", gbps(median(cold)));
  std::printf("  %-44s %8.2f\n", "copy-mode load, warm (verified)", gbps(median(copy_warm)));
  std::printf("  %-44s %8.2f\n", "copy-mode load, cold (verified)", gbps(median(copy_cold)));
  std::printf("  %-44s %8.2f\n", "copy-mode load, warm, not verified", gbps(median(unverified)));
  std::printf("  %-44s %8.2f\n", "copy-mode load through staging, warm", gbps(median(staged)));
  std::printf("  %-44s %8.2f\n", "in-place load, warm (verified)", gbps(median(in_place)));
  std::printf("Per CPU second of the process (GB per CPU s; robust when the machine is busy)\n");
  std::printf("  %-44s %8.2f\n", "memcpy into new device memory (baseline)", gbps(median(mem_cpu)));
  std::printf("  %-44s %8.2f\n", "copy-mode load, warm (verified)", gbps(median(copy_cpu)));
  std::printf("  %-44s %8.2f\n", "copy-mode load, warm, not verified", gbps(median(unverified_cpu)));
  std::printf("  %-44s %8.2f\n", "copy-mode load through staging, warm", gbps(median(staged_cpu)));
  bench_report report{"tiers"};
  report.metric("copy_load_fraction_of_memcpy", median(copy_warm) / median(mem));
  report.metric("cold_load_fraction_of_read_bw", median(copy_cold) / median(cold));
  report.metric("in_place_load_fraction_of_memcpy", median(in_place) / median(mem));
  report.metric("staged_copy_load_fraction_of_memcpy", median(staged) / median(mem));
  report.metric("unverified_copy_load_fraction_of_memcpy", median(unverified) / median(mem));
  report.metric("copy_load_cpu_fraction_of_memcpy", median(copy_cpu) / median(mem_cpu));
  report.metric("staged_copy_load_cpu_fraction_of_memcpy", median(staged_cpu) / median(mem_cpu));
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench
