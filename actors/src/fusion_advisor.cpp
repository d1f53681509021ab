#include "fusion_advisor.hpp"

#include "tessera/core/error.hpp"
#include "tessera/store/group_store.hpp"

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tessera::actors {

fusion_advice advise_fusion(const store::block_store& store, const co_request_counter& counts,
                            const grouping_options& opts) {
  fusion_advice advice;
  auto proposals = propose_groups(store.manifests().list_latest(), counts, opts);
  store::group_store groups{store.root()};
  auto defined = groups.list();
  for (const auto& p : proposals) {
    auto line = p.name + ":";
    for (const auto& m : p.models)
      line += " " + m;
    // Operators' groups win: a model serves from one group, and a name is
    // not taken over.
    std::string clash;
    for (const auto& d : defined) {
      if (d.name == p.name)
        clash = "the name is taken";
      for (const auto& m : p.models)
        if (clash.empty() && std::find(d.models.begin(), d.models.end(), m) != d.models.end())
          clash = m + " is in group " + d.name;
    }
    if (!clash.empty()) {
      advice.skipped.push_back(line + " (" + clash + ")");
      continue;
    }
    group_definition def{p.name, p.models, {}};
    if (auto err = groups.put(def)) {
      advice.skipped.push_back(line + " (" + describe(err) + ")");
      continue;
    }
    defined.push_back(def);
    advice.defined.push_back(line);
  }
  return advice;
}

namespace {

caf::behavior advisor_impl(caf::event_based_actor*, const store::block_store* store, grouping_options opts) {
  return {
    [store, opts](fuse_atom, const std::shared_ptr<const co_request_counter>& counts) {
      auto advice = advise_fusion(*store, *counts, opts);
      for (const auto& d : advice.defined)
        spdlog::info("auto_fuse: defined group {}", d);
      return advice.defined;
    },
  };
}

} // namespace

caf::actor spawn_fusion_advisor(caf::actor_system& sys, const store::block_store& store,
                                grouping_options opts) {
  return sys.spawn<caf::detached>(advisor_impl, &store, opts);
}

} // namespace tessera::actors
