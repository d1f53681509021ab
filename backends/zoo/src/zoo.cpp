#include "tessera/zoo/zoo.hpp"

#include "tessera/core/error.hpp"
#include "tessera/zoo/families.hpp"
#include "tessera/zoo/model_writer.hpp"
#include "tessera/zoo/param_values.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>

namespace tessera::zoo {

namespace {

/// One of the five variants every family comes in.
struct variant_plan {
  const char* suffix;    ///< appended to the family name ("" for the base model)
  sharing_kind sharing;
  int64_t classes;
  const char* tag;       ///< lineage tag of the blocks this variant changes
  const char* dataset;   ///< for the description
};

constexpr variant_plan variants[] = {
  {"", sharing_kind::base, 1000, "base", "ImageNet-1k"},
  {"-cars", sharing_kind::head, 196, "cars", "Stanford Cars"},
  {"-birds", sharing_kind::head, 200, "birds", "CUB-200 birds"},
  {"-ft", sharing_kind::finetune, 1000, "ft", "ImageNet-1k"},
  {"-scratch", sharing_kind::unrelated, 1000, "base", "ImageNet-1k"},
};

std::string describe_variant(const family_info& f, const variant_plan& v,
                             const zoo_options& opts) {
  char scale[32];
  std::snprintf(scale, sizeof scale, "%g", opts.scale);
  auto head = std::to_string(v.classes) + "-class " + v.dataset + "-style head";
  auto tail = " (synthetic weights, seed " + std::to_string(opts.seed) + ", scale " + scale
              + ")";
  switch (v.sharing) {
    case sharing_kind::base:
      return f.title + ", " + head + tail;
    case sharing_kind::head:
      return f.title + " backbone of " + f.base_name + " with a new " + head + tail;
    case sharing_kind::finetune:
      return f.title + " from " + f.base_name + " with 3 modules and the head fine-tuned" + tail;
    case sharing_kind::unrelated:
      return f.title + " trained from an unrelated seed, sharing nothing" + tail;
  }
  return f.title;
}

caf::expected<std::vector<const family_info*>> selected_families(const zoo_options& opts) {
  std::vector<const family_info*> out;
  for (const auto& f : family_infos())
    if (opts.families.empty()
        || std::find(opts.families.begin(), opts.families.end(), f.family)
             != opts.families.end())
      out.push_back(&f);
  for (const auto& name : opts.families) {
    auto known = std::any_of(family_infos().begin(), family_infos().end(),
                             [&](const family_info& f) { return f.family == name; });
    if (!known)
      return make_error(ec::invalid_argument,
                        "zoo: unknown family \"" + name + "\" (known: resnet, mobilenet, vit)");
  }
  return out;
}

} // namespace

const char* to_string(sharing_kind kind) {
  switch (kind) {
    case sharing_kind::base:
      return "base";
    case sharing_kind::head:
      return "head";
    case sharing_kind::finetune:
      return "finetune";
    case sharing_kind::unrelated:
      return "unrelated";
  }
  return "unknown";
}

int64_t zoo_block_limit(const family_info& family, double scale) {
  int64_t fewest = variants[0].classes;
  for (const auto& v : variants)
    fewest = std::min(fewest, v.classes);
  auto smallest = parameter_count(family.make(scale, fewest, unlimited_block_params));
  return smallest * zoo_block_limit_percent / 100;
}

std::vector<std::string> zoo_families() {
  std::vector<std::string> out;
  for (const auto& f : family_infos())
    out.push_back(f.family);
  return out;
}

caf::expected<std::vector<zoo_entry>>
build_zoo(const store::block_store& store, const zoo_options& opts,
          const std::function<void(const std::string&, size_t, size_t)>& progress) {
  if (!std::isfinite(opts.scale) || opts.scale <= 0.0 || opts.scale > 16.0)
    return make_error(ec::invalid_argument, "zoo: scale must lie in (0, 16], got "
                                              + std::to_string(opts.scale));
  auto families = selected_families(opts);
  if (!families)
    return families.error();
  const size_t total = families->size() * std::size(variants);
  std::vector<zoo_entry> entries;
  entries.reserve(total);
  model_writer writer{store};
  for (const auto* f : *families) {
    std::map<int64_t, architecture> by_classes;
    auto limit = zoo_block_limit(*f, opts.scale);
    for (const auto& v : variants) {
      auto& arch = by_classes[v.classes];
      if (arch.empty())
        arch = f->make(opts.scale, v.classes, limit);
      zoo_entry entry;
      entry.sharing = v.sharing;
      auto& m = entry.manifest;
      m.name = v.sharing == sharing_kind::base ? f->base_name : f->family + v.suffix;
      m.version = 1;
      m.family = f->family;
      m.description = describe_variant(*f, v, opts);
      lineage_plan lineage{opts.seed, f->family, {}, v.tag};
      switch (v.sharing) {
        case sharing_kind::base:
          break;
        case sharing_kind::head:
          lineage.changed_modules = {zoo_head_node};
          break;
        case sharing_kind::finetune:
          lineage.changed_modules = f->finetuned_modules;
          lineage.changed_modules.push_back(zoo_head_node);
          break;
        case sharing_kind::unrelated:
          lineage.seed = derived_seed(opts.seed, "scratch");
          break;
      }
      if (!opts.shared && v.sharing != sharing_kind::base) {
        lineage.seed = derived_seed(opts.seed, std::string{"unshared"} + v.suffix);
        lineage.changed_modules.clear();
        entry.sharing = sharing_kind::unrelated;
        m.description += "; this zoo is built to share nothing";
      }
      if (entry.sharing == sharing_kind::head || entry.sharing == sharing_kind::finetune) {
        entry.derived_from = f->base_name;
        entry.changed_modules = lineage.changed_modules;
        for (const auto& block : arch)
          if (std::find(entry.changed_modules.begin(), entry.changed_modules.end(), block.module)
              != entry.changed_modules.end())
            entry.changed_nodes.push_back(block.name);
      }
      if (auto err = writer.write(arch, lineage, m))
        return err;
      if (auto err = store.add_model(m))
        return wrap(err, "zoo model " + m.name);
      entries.push_back(std::move(entry));
      if (progress)
        progress(entries.back().manifest.name, entries.size(), total);
    }
  }
  return entries;
}

} // namespace tessera::zoo
