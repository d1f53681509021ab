#include "bench_store.hpp"

#include "tessera/core/error.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include <fcntl.h>
#include <unistd.h>

namespace tessera::bench {

const zoo::zoo_entry* bench_store::find(const std::string& name) const {
  auto i = std::find_if(zoo.begin(), zoo.end(),
                        [&](const zoo::zoo_entry& e) { return e.manifest.name == name; });
  return i == zoo.end() ? nullptr : &*i;
}

std::vector<std::string> bench_store::blob_files() const {
  std::set<std::string> out;
  for (const auto& e : zoo)
    for (const auto& [id, bytes] : unique_blobs(e.manifest))
      out.insert(store->blobs().path_of(id));
  return {out.begin(), out.end()};
}

caf::expected<named_models> models_to_measure(const bench_store& bs, const bench_options& opts) {
  named_models out;
  for (const auto& name : opts.models) {
    if (const auto* e = bs.find(name)) {
      out.models.emplace_back(&*bs.store, e->manifest);
      continue;
    }
    if (!out.user_store) {
      auto st = store::block_store::open(opts.models_store, false);
      if (!st)
        return wrap(st.error(),
                    "--models " + name + " is no zoo model; the store " + opts.models_store);
      out.user_store = std::make_unique<store::block_store>(std::move(*st));
    }
    auto m = out.user_store->manifests().get(name);
    if (!m)
      return wrap(m.error(),
                  "--models " + name + " (neither in the zoo nor in " + opts.models_store + ")");
    out.models.emplace_back(out.user_store.get(), std::move(*m));
  }
  return out;
}

caf::expected<bench_store> open_bench_store(const bench_options& opts, const char* name,
                                            bool shared) {
  auto dir = opts.work_dir + "/store-" + std::to_string(opts.scale) + (shared ? "" : "-unshared");
  auto st = store::block_store::open(dir, true);
  if (!st)
    return st.error();
  bench_store out;
  out.store.emplace(std::move(*st));
  zoo::zoo_options zo;
  zo.scale = opts.scale;
  zo.shared = shared;
  std::fprintf(stderr, "bench %s: the zoo%s at scale %.2f in %s\n", name,
               shared ? "" : " built to share nothing", opts.scale, dir.c_str());
  auto zoo = zoo::build_zoo(*out.store, zo);
  if (!zoo)
    return zoo.error();
  out.zoo = std::move(*zoo);
  warm_page_cache(out.blob_files());
  return out;
}

void warm_page_cache(const std::vector<std::string>& paths) {
  // One small buffer, reused: allocating and freeing a buffer per file would
  // churn the process's memory and slow the fresh-memory fills being measured.
  std::vector<char> buf(1u << 20);
  for (const auto& p : paths) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    while (::read(fd, buf.data(), buf.size()) > 0) {
    }
    ::close(fd);
  }
}

void drop_page_cache(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

} // namespace tessera::bench
