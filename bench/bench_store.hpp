// The store a benchmark works on: the zoo at the requested scale, built once
// under the work folder and reused by later runs, with its blob files read once
// so that measurements start from a warm page cache.
#pragma once

#include "bench_report.hpp"
#include "tessera/store/block_store.hpp"
#include "tessera/zoo/zoo.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tessera::bench {

struct bench_store {
  std::optional<store::block_store> store;
  std::vector<zoo::zoo_entry> zoo;

  const zoo::zoo_entry* find(const std::string& name) const;

  /// Every blob file of the zoo.
  std::vector<std::string> blob_files() const;
};

/// The models named with --models, each with the store that holds it: the
/// bench's zoo first, else the store given with -s/--store.
struct named_models {
  std::unique_ptr<store::block_store> user_store; ///< stays put when this moves

  std::vector<std::pair<const store::block_store*, model_manifest>> models;
};

caf::expected<named_models> models_to_measure(const bench_store& bs, const bench_options& opts);

/// Opens (building when needed) the zoo store of `opts.scale` for bench
/// `name`; with `shared` false, the zoo built to share nothing
/// (zoo_options::shared), in a store of its own.
caf::expected<bench_store> open_bench_store(const bench_options& opts, const char* name,
                                            bool shared = true);

/// Reads every file once so that measurements start from a warm page cache.
void warm_page_cache(const std::vector<std::string>& paths);

/// Drops the page cache of every file (posix_fadvise DONTNEED), for cold reads.
void drop_page_cache(const std::vector<std::string>& paths);

} // namespace tessera::bench
