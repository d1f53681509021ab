// `tessera bench tiers`: this machine's memcpy bandwidth and its read bandwidth
// from the store (page cache warm, and cold after dropping the pages), then the
// throughput of copy-mode loads, warm and cold, measured in the same run, into
// memory the arena kept (a node's steady state, by which the goals are judged:
// decision 40) and into new device memory (a process's first loads), beside a
// floor: one pread per blob with nothing checked. Warm loads copy from the
// mappings the store keeps after a blob's first read (decisions 34 and 36, the
// latter through staging); the same loads reading with pread, as before, are
// measured beside them, and so is the loader's own copy (streaming stores,
// decision 39) with nothing checked. Loads go through the residency manager,
// blob verification included. Besides wall time it counts the process's CPU
// time, whose ratios hold up on a machine that other work keeps busy
// (wall-time ratios there mostly measure the scheduler). Within a round the
// baseline and the warm loads take turns and each keeps its best of six (the
// same count on every side), so a burst of other work cannot land on one side
// only; cold reads and cold loads keep their best of two.
#include "bench_store.hpp"
#include "load_rig.hpp"

#include "tessera/core/error.hpp"
#include "tessera/store/stream_copy.hpp"

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
// With `kept`, the blocks come from device memory that an earlier fill left
// behind (decision 33: what a node's device holds once it has loaded and freed).
// With `streaming`, the copy is the loader's own (store::stream_copy, decision
// 39): what a load could reach if checks and bookkeeping cost nothing.
load_run memcpy_bandwidth(const std::vector<size_t>& blob_bytes, unsigned threads,
                          residency::cpu_arena* kept = nullptr, bool streaming = false) {
  size_t total = 0;
  for (auto b : blob_bytes)
    total += b;
  std::vector<std::byte> src(total, std::byte{1});
  residency::cpu_arena fresh;
  auto& arena = kept != nullptr ? *kept : fresh;
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
      if (streaming)
        store::stream_copy(block->data, src.data() + offset, blob_bytes[i]);
      else
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

// The floor under a copy-mode load: each blob file's data read with one
// pread into a block of `arena`, split over threads; no header check, no hash,
// no bookkeeping. Bytes per second and per CPU second.
load_run bare_read_into(const std::vector<std::string>& files,
                        const std::vector<size_t>& blob_bytes,
                        const std::vector<uint64_t>& data_offsets, unsigned threads,
                        residency::cpu_arena& arena) {
  std::vector<std::vector<backend::device_block>> held(threads);
  std::atomic<uint64_t> total{0};
  auto cpu_start = process_cpu_seconds();
  auto secs = timed_parallel(threads, [&](unsigned part, unsigned parts) {
    for (size_t i = part; i < files.size(); i += parts) {
      int fd = ::open(files[i].c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      auto block = arena.allocate(blob_bytes[i]);
      if (block &&
          ::pread(fd, block->data, blob_bytes[i], static_cast<off_t>(data_offsets[i])) > 0) {
        total += blob_bytes[i];
        held[part].push_back(std::move(*block));
      }
      ::close(fd);
    }
  });
  return {total.load(), secs, process_cpu_seconds() - cpu_start};
}

// Loads every zoo model on a fresh manager; shared blobs are read once. With
// `kept`, into device memory an earlier load left behind, as for memcpy. With
// `at_once`, every model's load is asked for at the same time (one caller
// thread each), so the loader's queue never runs dry: its throughput; without,
// one model after another, each waited for, as a node loads one model at a
// time, where the I/O threads idle at the end of each model's load.
caf::expected<load_run>
load_zoo(const bench_store& bs, load_mode mode, bool staged = false, bool verify = true,
         residency::cpu_arena* kept = nullptr, bool at_once = true,
         uint64_t readahead_bytes = residency::residency_options{}.readahead_bytes) {
  residency::cpu_arena fresh;
  auto& arena = kept != nullptr ? *kept : fresh;
  residency::residency_options opts;
  opts.mode = mode;
  opts.force_staging = staged;
  opts.verify = verify;
  opts.device_budget_bytes = 16ull << 30;
  opts.readahead_bytes = readahead_bytes;
  residency::residency_manager mgr{*bs.store, arena, opts};
  std::vector<residency::lease_ptr> held;
  auto cpu_start = process_cpu_seconds();
  auto start = clock_type::now();
  if (at_once) {
    std::vector<caf::expected<residency::lease_ptr>> got(bs.zoo.size(), caf::error{});
    std::vector<std::thread> callers;
    for (size_t i = 0; i < bs.zoo.size(); ++i)
      callers.emplace_back([&, i] {
        got[i] = mgr.load(bs.zoo[i].manifest.name, residency::blob_refs_of(bs.zoo[i].manifest));
      });
    for (auto& t : callers)
      t.join();
    for (auto& l : got) {
      if (!l)
        return l.error();
      held.push_back(*l);
    }
  } else {
    for (const auto& e : bs.zoo) {
      auto l = mgr.load(e.manifest.name, residency::blob_refs_of(e.manifest));
      if (!l)
        return l.error();
      held.push_back(*l);
    }
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

// What one round measures, in GB/s and GB per CPU second.
struct round_figures {
  best_of mem, stream, copy, bare;                     ///< into new device memory
  best_of sequential, kept_sequential;                 ///< the same loads, one model at a time
  best_of kept_mem, kept_stream, kept_copy, kept_bare; ///< into device memory the arena kept
  best_of in_place, staged, unverified;   ///< into new device memory
  /// Verified copy loads that read every blob with pread, keeping no
  /// mappings: the loader before decision 34 (and, through staging, before
  /// decision 36).
  best_of unmapped, kept_unmapped, staged_unmapped;
};

int run_tiers_bench(const bench_options& opts) {
  // Per round: each baseline runs at two thread counts per trial, and each kind
  // of warm load beside both, so every side keeps its best of six.
  constexpr int trials = 3;
  auto bs = open_bench_store(opts, "tiers");
  if (!bs) {
    std::fprintf(stderr, "bench tiers: %s\n", describe(bs.error()).c_str());
    return 1;
  }
  auto files = bs->blob_files();
  unsigned io_threads = residency::residency_options{}.io_threads;
  uint64_t zoo_bytes = 0;
  std::vector<size_t> blob_bytes;
  std::vector<uint64_t> data_offsets;
  for (const auto& f : files) {
    auto id = parse_content_id(std::filesystem::path{f}.stem().string());
    auto h = id ? bs->store->blobs().header(*id) : caf::expected<store::blob_header>{id.error()};
    if (!h) {
      std::fprintf(stderr, "bench tiers: %s\n", describe(h.error()).c_str());
      return 1;
    }
    blob_bytes.push_back(h->data_bytes);
    data_offsets.push_back(h->data_offset());
    zoo_bytes += blob_bytes.back();
  }
  // Device memory in the state a node's device reaches once it has loaded and
  // freed blocks: kept, not given back (decision 33). It keeps the whole zoo.
  residency::cpu_arena kept{0, 64u << 20, 2 * zoo_bytes + (64u << 20)};
  std::vector<round_figures> rounds;
  std::vector<double> warm, cold, copy_cold, copy_cold_no_readahead;
  // Untimed rounds first: the first fills of fresh memory in a process are
  // several times slower (the hypervisor backs guest pages on first touch).
  for (int i = 0; i < 3; ++i) {
    memcpy_bandwidth(blob_bytes, io_threads);
    memcpy_bandwidth(blob_bytes, io_threads, &kept);
    for (auto* arena : {static_cast<residency::cpu_arena*>(nullptr), &kept})
      if (auto warmup = load_zoo(*bs, load_mode::copy, false, true, arena); !warmup) {
        std::fprintf(stderr, "bench tiers: %s\n", describe(warmup.error()).c_str());
        return 1;
      }
  }
  for (uint32_t r = 0; r < opts.repeat; ++r) {
    // Mapped pages stay cached through POSIX_FADV_DONTNEED: unmap them first.
    bs->store->blobs().mappings().clear();
    warm_page_cache(files);
    warm.push_back(std::max(read_bandwidth(files, 1), read_bandwidth(files, io_threads)));
    // Cold reads run at one thread and at the loader's count, and a cold load
    // beside each (and one that asks the kernel for nothing ahead, as before
    // decision 41), so every side keeps its best of two. The cold load
    // refills the page cache as a node's own loads do (readahead in large
    // folios), and the warm loads below read what the last one left.
    double cold_read = 0.0;
    double cold_load = 0.0;
    double cold_load_no_readahead = 0.0;
    for (unsigned threads : {1u, io_threads}) {
      bs->store->blobs().mappings().clear();
      drop_page_cache(files);
      cold_read = std::max(cold_read, read_bandwidth(files, threads));
      for (uint64_t readahead : {uint64_t{0}, residency::residency_options{}.readahead_bytes}) {
        bs->store->blobs().mappings().clear();
        drop_page_cache(files);
        auto cc = load_zoo(*bs, load_mode::copy, false, true, nullptr, false, readahead);
        if (!cc) {
          std::fprintf(stderr, "bench tiers: %s\n", describe(cc.error()).c_str());
          return 1;
        }
        auto& best = readahead == 0 ? cold_load_no_readahead : cold_load;
        best = std::max(best, cc->bandwidth());
      }
    }
    cold.push_back(cold_read);
    copy_cold.push_back(cold_load);
    copy_cold_no_readahead.push_back(cold_load_no_readahead);
    // Dropping and refilling the page cache leaves free memory fragmented, and
    // the next fill of fresh memory pays for compacting it into huge pages
    // (several times slower here, whichever measurement comes first). One
    // untimed fill first, so the baseline and the loads below start alike.
    memcpy_bandwidth(blob_bytes, io_threads);
    // The baselines and the warm loads take turns, and each side keeps its
    // best: a burst of other work on this machine then slows one sample of
    // either side, not every sample of one of them. The baselines run at one
    // thread and at the loader's count in turn, and every load runs beside each
    // of them, so each side keeps its best of the same number of samples:
    // fills of fresh memory vary several-fold here (0.5-8 GB/s within a
    // round), and the best of more samples is higher by that alone.
    round_figures f;
    caf::error failed;
    for (int sample = 0; sample < 2 * trials && !failed; ++sample) {
      unsigned threads = sample % 2 == 0 ? 1u : io_threads;
      f.mem.add(memcpy_bandwidth(blob_bytes, threads));
      f.kept_mem.add(memcpy_bandwidth(blob_bytes, threads, &kept));
      f.stream.add(memcpy_bandwidth(blob_bytes, threads, nullptr, true));
      f.kept_stream.add(memcpy_bandwidth(blob_bytes, threads, &kept, true));
      residency::cpu_arena fresh;
      f.bare.add(bare_read_into(files, blob_bytes, data_offsets, io_threads, fresh));
      f.kept_bare.add(bare_read_into(files, blob_bytes, data_offsets, io_threads, kept));
      auto load = [&](best_of& best, load_mode mode, bool staged, bool verify,
                      residency::cpu_arena* arena, bool at_once = true) {
        auto got = load_zoo(*bs, mode, staged, verify, arena, at_once);
        if (!got)
          failed = got.error();
        else
          best.add(*got);
      };
      load(f.copy, load_mode::copy, false, true, nullptr);
      load(f.sequential, load_mode::copy, false, true, nullptr, false);
      load(f.kept_copy, load_mode::copy, false, true, &kept);
      load(f.kept_sequential, load_mode::copy, false, true, &kept, false);
      load(f.in_place, load_mode::in_place, false, true, nullptr);
      load(f.staged, load_mode::copy, true, true, nullptr);
      load(f.unverified, load_mode::copy, false, false, nullptr);
      auto& maps = bs->store->blobs().mappings();
      auto map_capacity = maps.capacity();
      maps.set_capacity(0);
      load(f.unmapped, load_mode::copy, false, true, nullptr);
      load(f.kept_unmapped, load_mode::copy, false, true, &kept);
      load(f.staged_unmapped, load_mode::copy, true, true, nullptr);
      maps.set_capacity(map_capacity);
      if (auto remap = load_zoo(*bs, load_mode::copy); !remap) // untimed: maps the blobs again
        failed = remap.error();
    }
    if (failed) {
      std::fprintf(stderr, "bench tiers: %s\n", describe(failed).c_str());
      return 1;
    }
    std::fprintf(stderr,
                 "  run %u: memcpy %.2f, copy load %.2f, pread floor %.2f; into new memory %.2f, "
                 "%.2f, %.2f; cold read %.2f, cold load %.2f GB/s\n",
                 r + 1, gbps(f.kept_mem.wall), gbps(f.kept_copy.wall), gbps(f.kept_bare.wall),
                 gbps(f.mem.wall), gbps(f.copy.wall), gbps(f.bare.wall), gbps(cold.back()),
                 gbps(copy_cold.back()));
    rounds.push_back(f);
  }
  warm_page_cache(files);
  // The median over rounds of one figure.
  auto med = [&](best_of round_figures::*which, double best_of::*unit) {
    std::vector<double> v;
    for (const auto& f : rounds)
      v.push_back(f.*which.*unit);
    return median(v);
  };
  auto wall = [&](best_of round_figures::*which) { return med(which, &best_of::wall); };
  auto cpu = [&](best_of round_figures::*which) { return med(which, &best_of::cpu); };
  auto line = [](const char* what, double bytes_per_s, double per_cpu_s) {
    if (per_cpu_s > 0)
      std::printf("  %-50s %8.2f %8.2f\n", what, gbps(bytes_per_s), gbps(per_cpu_s));
    else
      std::printf("  %-50s %8.2f\n", what, gbps(bytes_per_s));
  };
  using rf = round_figures;
  std::printf("The zoo's %.1f MB of blobs, median of %u rounds (GB/s, GB per CPU second)\n",
              zoo_bytes / 1e6, opts.repeat);
  // The goal's figures come first: into device memory the arena kept, as a
  // GPU's caching allocator keeps it and as a node's device is once it has
  // loaded and freed (decision 40). New memory costs a page fault and a
  // kernel zeroing per page, which no GPU pays.
  std::printf(" into device memory the arena kept (a node's steady state, decisions 33 and 40):\n");
  line("memcpy (baseline)", wall(&rf::kept_mem), cpu(&rf::kept_mem));
  line("the loader's streaming copy, nothing checked", wall(&rf::kept_stream),
       cpu(&rf::kept_stream));
  line("copy-mode load, warm (verified)", wall(&rf::kept_copy), cpu(&rf::kept_copy));
  line("the same, one model at a time", wall(&rf::kept_sequential), cpu(&rf::kept_sequential));
  line("the same, reading with pread (no kept mappings)", wall(&rf::kept_unmapped),
       cpu(&rf::kept_unmapped));
  line("one pread per blob, nothing checked (a floor)", wall(&rf::kept_bare), cpu(&rf::kept_bare));
  std::printf(" into new device memory (page faults and zeroing, as a process's first load):\n");
  line("memcpy (baseline)", wall(&rf::mem), cpu(&rf::mem));
  line("the loader's streaming copy, nothing checked", wall(&rf::stream), cpu(&rf::stream));
  line("copy-mode load, warm (verified)", wall(&rf::copy), cpu(&rf::copy));
  line("the same, one model at a time", wall(&rf::sequential), cpu(&rf::sequential));
  line("the same, reading with pread (no kept mappings)", wall(&rf::unmapped), cpu(&rf::unmapped));
  line("copy-mode load, warm, not verified", wall(&rf::unverified), cpu(&rf::unverified));
  line("copy-mode load through staging, warm", wall(&rf::staged), cpu(&rf::staged));
  line("the same, reading with pread (no kept mappings)", wall(&rf::staged_unmapped),
       cpu(&rf::staged_unmapped));
  line("in-place load, warm (verified)", wall(&rf::in_place), cpu(&rf::in_place));
  line("one pread per blob, nothing checked (a floor)", wall(&rf::bare), cpu(&rf::bare));
  std::printf(" from the store:\n");
  line("read, page cache warm", median(warm), 0);
  line("read, cold (baseline)", median(cold), 0);
  line("copy-mode load, cold (verified)", median(copy_cold), 0);
  line("the same, asking for nothing ahead (before decision 41)", median(copy_cold_no_readahead),
       0);
  // The headline divides by the fastest copy this machine has, the loader's
  // streaming stores; glibc's memcpy, slower here, stays beside it.
  std::printf(
      "headline: a warm copy-mode load runs at %.2f of the loader's streaming copy (the fastest "
      "copy; goal >= 0.8) and %.2f of glibc memcpy\n",
      wall(&rf::kept_copy) / wall(&rf::kept_stream), wall(&rf::kept_copy) / wall(&rf::kept_mem));
  bench_report report{"tiers"};
  auto fraction = [&](const char* name, best_of rf::*num, best_of rf::*den) {
    report.metric(name, wall(num) / wall(den));
  };
  auto cpu_fraction = [&](const char* name, best_of rf::*num, best_of rf::*den) {
    report.metric(name, cpu(num) / cpu(den));
  };
  // The goal's metrics, in a node's steady state (decision 40).
  fraction("copy_load_fraction_of_memcpy", &rf::kept_copy, &rf::kept_mem);
  report.metric("cold_load_fraction_of_read_bw", median(copy_cold) / median(cold));
  report.metric("no_readahead_cold_load_fraction_of_read_bw",
                median(copy_cold_no_readahead) / median(cold));
  fraction("sequential_copy_load_fraction_of_memcpy", &rf::kept_sequential, &rf::kept_mem);
  fraction("pread_copy_load_fraction_of_memcpy", &rf::kept_unmapped, &rf::kept_mem);
  fraction("pread_floor_fraction_of_memcpy", &rf::kept_bare, &rf::kept_mem);
  fraction("copy_load_fraction_of_stream_copy", &rf::kept_copy, &rf::kept_stream);
  cpu_fraction("copy_load_cpu_fraction_of_memcpy", &rf::kept_copy, &rf::kept_mem);
  // A process's first loads, into new memory.
  fraction("first_load_copy_fraction_of_memcpy", &rf::copy, &rf::mem);
  fraction("first_load_sequential_fraction_of_memcpy", &rf::sequential, &rf::mem);
  fraction("first_load_in_place_fraction_of_memcpy", &rf::in_place, &rf::mem);
  fraction("first_load_staged_fraction_of_memcpy", &rf::staged, &rf::mem);
  fraction("first_load_pread_staged_fraction_of_memcpy", &rf::staged_unmapped, &rf::mem);
  fraction("first_load_unverified_fraction_of_memcpy", &rf::unverified, &rf::mem);
  fraction("first_load_pread_fraction_of_memcpy", &rf::unmapped, &rf::mem);
  fraction("first_load_pread_floor_fraction_of_memcpy", &rf::bare, &rf::mem);
  fraction("first_load_copy_fraction_of_stream_copy", &rf::copy, &rf::stream);
  cpu_fraction("first_load_copy_cpu_fraction_of_memcpy", &rf::copy, &rf::mem);
  cpu_fraction("first_load_staged_cpu_fraction_of_memcpy", &rf::staged, &rf::mem);
  cpu_fraction("first_load_pread_floor_cpu_fraction_of_memcpy", &rf::bare, &rf::mem);
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench
