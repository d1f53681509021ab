// `tessera fuse`: defines a fused group (stored under <store>/groups/NAME.json)
// and prints what fusing saves; --list and --show inspect stored groups. Also
// `tessera run --group NAME`, which loads a group as one unit and runs it once
// for all or some of its members.
#include "commands.hpp"

#include "local_runtime.hpp"
#include "tessera/actors/device_tier.hpp"
#include "tessera/backend/fused_group.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/group_store.hpp"
#include "tessera/torch/torch_executor.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace tessera::cli {

namespace {

struct fuse_args {
  std::string name;
  std::vector<std::string> models;
  std::vector<std::string> bindings;
  bool list = false;
  std::string show;
  std::string remove;
};

// MODEL.INPUT=GROUP_INPUT
caf::expected<input_binding> parse_binding(const std::string& text) {
  auto eq = text.find('=');
  auto dot = text.rfind('.', eq);
  if (eq == std::string::npos || dot == std::string::npos || dot == 0 || eq == dot + 1 ||
      eq + 1 == text.size())
    return make_error(ec::invalid_argument,
                      "--bind " + text + ": expected MODEL.INPUT=GROUP_INPUT");
  return input_binding{text.substr(0, dot), text.substr(dot + 1, eq - dot - 1),
                       text.substr(eq + 1)};
}

void print_plan(const fused_plan& plan) {
  const auto& s = plan.savings;
  std::printf("%s\n", summary_of(plan).c_str());
  std::printf("  members:");
  for (const auto& m : plan.members)
    std::printf(" %s", m.model.c_str());
  std::printf("\n");
  for (size_t i = 0; i < plan.dag.inputs.size(); ++i) {
    const auto& in = plan.dag.inputs[i];
    std::printf("  input %s %s <-", in.name.c_str(), to_string(in.spec).c_str());
    for (const auto& m : plan.members)
      for (size_t k = 0; k < m.input_of.size(); ++k)
        if (m.input_of[k] == i)
          std::printf(" %s", m.model.c_str());
    std::printf("\n");
  }
  std::printf("  %-22s %12s %12s %8s\n", "", "separate", "fused", "saved");
  std::printf("  %-22s %12llu %12llu %7.0f%%\n", "nodes",
              static_cast<unsigned long long>(s.separate_nodes),
              static_cast<unsigned long long>(s.fused_nodes),
              s.separate_nodes ? 100.0 * s.nodes_saved() / s.separate_nodes : 0.0);
  std::printf("  %-22s %12s %12s %7.0f%%\n", "parameters", format_mib(s.separate_bytes).c_str(),
              format_mib(s.fused_bytes).c_str(),
              s.separate_bytes ? 100.0 * s.bytes_saved() / s.separate_bytes : 0.0);
  std::printf("  %-22s %11.2fG %11.2fG %7.0f%%\n", "compute (MAC proxy)", s.separate_macs / 1e9,
              s.fused_macs / 1e9, 100.0 * s.macs_saved_fraction());
  const size_t shown = 8;
  for (size_t i = 0; i < plan.merged.size() && i < shown; ++i)
    std::printf("  shared %-28s x%zu\n", plan.merged[i].node.c_str(),
                plan.merged[i].sources.size());
  if (plan.merged.size() > shown)
    std::printf("  ... and %zu more shared nodes\n", plan.merged.size() - shown);
}

int define_group(const store::block_store& st, const fuse_args& args) {
  group_definition def{args.name, {}, {}};
  for (const auto& b : args.bindings) {
    auto binding = parse_binding(b);
    if (!binding)
      return fail(binding.error());
    def.bindings.push_back(std::move(*binding));
  }
  // Pin each member's version as it is now, so later imports do not change the group.
  for (const auto& ref : args.models) {
    std::string name;
    uint32_t version = 0;
    if (auto err = parse_model_ref(ref, name, version))
      return fail(err);
    auto m = st.manifests().get(name, version);
    if (!m)
      return fail(wrap(m.error(), "group \"" + args.name + "\""));
    def.models.push_back(model_ref(*m));
  }
  auto plan = store::plan_group(st, def);
  if (!plan)
    return fail(plan.error());
  def.models.clear();
  for (const auto& m : plan->members)
    def.models.push_back(m.model);
  if (auto err = store::group_store{st.root()}.define(def))
    return fail(err);
  print_plan(*plan);
  std::printf("stored %s/groups/%s.json\n", st.root().c_str(), def.name.c_str());
  return 0;
}

int list_groups(const store::block_store& st) {
  auto groups = store::group_store{st.root()}.list();
  std::printf("%-20s %8s %8s %12s %12s  %s\n", "group", "models", "nodes", "parameters", "saved",
              "members");
  for (const auto& g : groups) {
    auto plan = store::plan_group(st, g);
    if (!plan) {
      std::printf("%-20s (cannot plan: %s)\n", g.name.c_str(), describe(plan.error()).c_str());
      continue;
    }
    std::string members;
    for (const auto& m : g.models)
      members += (members.empty() ? "" : " ") + m;
    const auto& s = plan->savings;
    std::printf("%-20s %8zu %8llu %12s %12s  %s\n", g.name.c_str(), plan->members.size(),
                static_cast<unsigned long long>(s.fused_nodes), format_mib(s.fused_bytes).c_str(),
                format_mib(s.bytes_saved()).c_str(), members.c_str());
  }
  if (groups.empty())
    std::printf("(no groups; define one with `tessera fuse NAME MODEL MODEL...`)\n");
  return 0;
}

} // namespace

void add_fuse_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand(
      "fuse", "define a fused model group, or list and show groups (docs/fusion.md)");
  auto args = std::make_shared<fuse_args>();
  cmd->add_option("name", args->name, "group name (letters, digits, . _ -)");
  cmd->add_option("models", args->models, "member models, NAME or NAME:VERSION");
  cmd->add_option("--bind", args->bindings,
                  "MODEL.INPUT=GROUP_INPUT: bind a member input to a named group input "
                  "(default: by position)");
  cmd->add_flag("--list", args->list, "list stored groups");
  cmd->add_option("--show", args->show, "print the plan of a stored group");
  cmd->add_option("--remove", args->remove, "delete a stored group definition");
  cmd->callback([&ctx, &action, args] {
    action = [&ctx, args]() -> int {
      auto st = ctx.open_store(false);
      if (!st)
        return fail(st.error());
      store::group_store groups{st->root()};
      if (args->list)
        return list_groups(*st);
      if (!args->remove.empty()) {
        if (auto err = groups.remove(args->remove))
          return fail(err);
        std::printf("removed group %s\n", args->remove.c_str());
        return 0;
      }
      if (!args->show.empty()) {
        auto def = groups.get(args->show);
        if (!def)
          return fail(def.error());
        auto plan = store::plan_group(*st, *def);
        if (!plan)
          return fail(plan.error());
        print_plan(*plan);
        return 0;
      }
      if (args->name.empty() || args->models.empty())
        return fail(make_error(ec::invalid_argument,
                               "usage: tessera fuse NAME MODEL [MODEL...] | --list | --show NAME"));
      return define_group(*st, *args);
    };
  });
}

int run_group_command(cli_context& ctx, const group_run_args& args) {
  auto st = ctx.open_store(false);
  if (!st)
    return fail(st.error());
  auto def = store::group_store{st->root()}.get(args.group);
  if (!def)
    return fail(def.error());
  auto plan = store::plan_group(*st, *def);
  if (!plan)
    return fail(plan.error());
  const auto& cfg = ctx.config();
  // Declared in this order so that the group goes before the executor, the
  // executor before the residency manager, and that before its device memory.
  auto tier = actors::make_device_tier(cfg);
  if (!tier)
    return fail(tier.error());
  residency::residency_manager residency{*st, *tier->memory, residency::residency_options::from(cfg)};
  torch_backend::torch_options opts;
  opts.device = cfg.device;
  opts.params_on_device = tier->on_device;
  opts.threads = cfg.torch_threads;
  auto exec = torch_backend::make_torch_executor(opts, residency, st->skeletons());
  if (!exec)
    return fail(exec.error());
  backend::load_report load;
  auto group = backend::load_group(**exec, *plan, &load);
  if (!group)
    return fail(group.error());
  std::printf("group %s: loaded %zu blobs (%s) in %.1f ms as one unit, %zu skeletons compiled\n",
              args.group.c_str(), load.blobs, format_mib(load.bytes).c_str(), load.elapsed_ms,
              load.skeletons_compiled);
  auto inputs = random_inputs(plan->dag, args.batch, args.seed);
  std::vector<double> ms;
  caf::expected<std::vector<backend::member_outputs>> out{std::vector<backend::member_outputs>{}};
  backend::run_stats stats;
  for (uint32_t i = 0; i < args.repeat; ++i) {
    auto start = std::chrono::steady_clock::now();
    out = backend::run_group(**exec, **group, inputs, args.members, &stats);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    if (!out)
      return fail(out.error());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("ran batch %lld through %u of %zu nodes in %.1f ms (median of %u)\n",
              static_cast<long long>(args.batch), stats.nodes_run, plan->dag.nodes.size(),
              ms[ms.size() / 2], args.repeat);
  for (const auto& answer : *out) {
    const auto* member = plan->find(answer.model);
    model_manifest view;
    for (auto o : member->output_of)
      view.outputs.push_back(plan->dag.outputs[o]);
    std::printf("  %s\n", answer.model.c_str());
    print_outputs(view, answer.outputs, "    ");
  }
  backend::unload_group(**exec, *group);
  return 0;
}

} // namespace tessera::cli
