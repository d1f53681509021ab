// `tessera bench import`: models as a user brings them. Four models of each zoo
// family (base, -cars, -birds, -ft) are saved as whole TorchScript files and
// imported into a fresh store with automatic blocks, then measured against
// their baselines in this run: blocks shared between fine-tunes against blobs
// shared, a first load against torch::jit::load of the same file, a fused
// group of the four against the four run one after another, and the base
// model streamed in a third of its bytes against resident. docs/benchmarks.md.
#include "bench_report.hpp"

#include "bench_measures.hpp"
#include "bench_store.hpp"
#include "load_rig.hpp"
#include "tessera/core/block_sharing.hpp"
#include "tessera/core/error.hpp"
#include "tessera/torch/torchscript_files.hpp"
#include "tessera/zoo/families.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

namespace tessera::bench {

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

// Bytes of blob files beyond their tensors, and the tensors' bytes.
std::pair<uint64_t, uint64_t> header_bytes(const store::block_store& st) {
  uint64_t headers = 0, tensors = 0;
  for (const auto& id : st.blobs().list()) {
    auto f = st.blobs().open(id);
    auto size = st.blobs().file_bytes(id);
    if (!f || !size)
      continue;
    tensors += f->header().data_bytes;
    headers += *size - f->header().data_bytes;
  }
  return {headers, tensors};
}

struct family_models {
  std::string family;
  std::vector<std::string> files;       ///< one TorchScript file per member
  std::vector<model_manifest> imported; ///< base first
};

int fail(const char* what, const caf::error& err) {
  std::fprintf(stderr, "bench import: %s: %s\n", what, describe(err).c_str());
  return 1;
}

} // namespace

int run_import_bench(const bench_options& opts) {
  auto bs = open_bench_store(opts, "import");
  if (!bs)
    return fail("zoo", bs.error());
  auto ts_dir = opts.work_dir + "/torchscript-" + std::to_string(opts.scale);
  auto import_dir = opts.work_dir + "/imported-" + std::to_string(opts.scale);
  fs::create_directories(ts_dir);
  fs::remove_all(import_dir); // every run imports afresh
  auto st = store::block_store::open(import_dir, true);
  if (!st)
    return fail("store", st.error());

  std::vector<family_models> families;
  std::printf("Imported with automatic blocks (zoo scale %.2f):\n", opts.scale);
  std::printf("  %-22s %7s %8s %10s %10s\n", "model", "blocks", "MB", "import ms", "skeletons");
  for (const auto& info : zoo::family_infos()) {
    family_models f;
    f.family = info.family;
    for (const auto& name :
         {info.base_name, info.family + "-cars", info.family + "-birds", info.family + "-ft"}) {
      const auto* e = bs->find(name);
      if (e == nullptr)
        return fail(name.c_str(), make_error(ec::unknown_model, "not in the zoo"));
      auto path = ts_dir + "/" + name + ".pt";
      if (!fs::exists(path))
        if (auto err = torch_backend::export_torchscript(*bs->store, e->manifest, path))
          return fail(name.c_str(), err);
      torch_backend::import_options io;
      io.name = "imported-" + name;
      io.family = "imported-" + info.family;
      io.inputs = e->manifest.inputs;
      // The default size at scale 1, scaled as the zoo's bytes are (scale²).
      io.max_block_bytes = static_cast<uint64_t>(4.0 * 1048576.0 * opts.scale * opts.scale);
      std::string note;
      io.note = [&](const std::string& n) { note = n; };
      auto start = clock_type::now();
      auto m = torch_backend::import_torchscript_file(*st, path, io);
      auto ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
      if (!m)
        return fail(name.c_str(), m.error());
      std::set<content_id> skeletons;
      for (const auto& n : m->nodes)
        skeletons.insert(n.skeleton);
      std::printf("  %-22s %7zu %8.1f %10.0f %10zu %s\n", m->name.c_str(), m->nodes.size(),
                  parameter_bytes(*m) / 1e6, ms, skeletons.size(), note.c_str());
      f.files.push_back(path);
      f.imported.push_back(std::move(*m));
    }
    families.push_back(std::move(f));
  }
  std::vector<std::string> warm = bs->blob_files();
  for (const auto& id : st->blobs().list())
    warm.push_back(st->blobs().path_of(id));
  for (const auto& f : families)
    warm.insert(warm.end(), f.files.begin(), f.files.end());
  warm_page_cache(warm);

  bench_report report{"import"};
  // 1. Blocks shared between a family's members, against blobs shared.
  uint64_t as_blocks = 0, as_blobs = 0;
  std::printf("\nShared with the family's base model (MB):\n  %-22s %10s %10s\n", "model",
              "as blobs", "as blocks");
  for (const auto& f : families)
    for (size_t i = 1; i < f.imported.size(); ++i) {
      auto blobs = shared_bytes(f.imported[0], f.imported[i]);
      auto blocks = shared_block_bytes(f.imported[i], f.imported[0]);
      as_blobs += blobs;
      as_blocks += blocks;
      std::printf("  %-22s %10.2f %10.2f\n", f.imported[i].name.c_str(), blobs / 1e6, blocks / 1e6);
    }
  report.metric("auto_block_shared_bytes_fraction",
                static_cast<double>(as_blocks) / static_cast<double>(as_blobs));

  // 2. First load: nothing compiled, nothing resident, page cache warm; against
  // torch::jit::load of the same file. Alternating, medians of the ratios.
  std::printf("\nFirst load, warm page cache (median of %u; ms)\n  %-22s %10s %10s %10s %9s\n",
              opts.repeat, "model", "jit::load", "tessera", "(reading)", "speedup");
  std::vector<double> speedups;
  for (const auto& f : families) {
    const auto& m = f.imported[0];
    std::vector<double> jit, ours, reading, ratios;
    for (uint32_t r = 0; r < opts.repeat; ++r) {
      auto j = torch_backend::time_torchscript_load(f.files[0]);
      torch_backend::clear_compiled_skeletons();
      auto rig = load_rig::make(*st);
      if (!j || !rig)
        return fail("first load", !j ? j.error() : rig.error());
      backend::load_report lr;
      auto loaded = (*rig)->exec->load(m, &lr);
      if (!loaded)
        return fail("first load", loaded.error());
      jit.push_back(*j);
      ours.push_back(lr.elapsed_ms);
      reading.push_back(lr.residency_ms);
      ratios.push_back(*j / lr.elapsed_ms);
    }
    speedups.push_back(median(ratios));
    std::printf("  %-22s %10.1f %10.1f %10.1f %8.2fx\n", m.name.c_str(), median(jit), median(ours),
                median(reading), median(ratios));
    report.metric("first_load_speedup_vs_jit_" + f.family, median(ratios));
  }
  report.metric("first_load_speedup_vs_jit", median(speedups));

  // 3. The four members of a family fused, against run one after another.
  std::printf("\n");
  std::vector<double> fused;
  for (const auto& f : families) {
    auto s = fused_speedup(*st, "imported-" + f.family + "-k4", f.imported, opts.repeat);
    if (!s)
      return fail("fusion", s.error());
    fused.push_back(*s);
    report.metric("imported_fused_speedup_" + f.family, *s);
  }
  report.metric("imported_fused_speedup", median(fused));

  // 4. The imported ResNet-18 streamed in a third of its bytes.
  std::printf("\n");
  auto ratio = stream_latency_ratio_1_3(*st, families[0].imported[0], opts);
  if (!ratio)
    return fail("streaming", ratio.error());
  report.metric("imported_stream_latency_ratio_1_3", *ratio);

  // 5. What blob files cost beyond their tensors, zoo and imported.
  auto [zh, zt] = header_bytes(*bs->store);
  auto [ih, it] = header_bytes(*st);
  std::printf("\nBlob files beyond their tensors: zoo %.2f MB over %.1f MB, imported %.2f MB "
              "over %.1f MB\n",
              zh / 1e6, zt / 1e6, ih / 1e6, it / 1e6);
  report.metric("header_overhead_fraction",
                static_cast<double>(zh + ih) / static_cast<double>(zt + it));
  report.finish(opts);
  return 0;
}

} // namespace tessera::bench
