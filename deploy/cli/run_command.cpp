// `tessera run`: one local inference on random or given input; prints the load
// (bytes read from the store), the latency, and each output's shape and checksum.
#include "commands.hpp"

#include "local_runtime.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/npy.hpp"
#include "tessera/store/atomic_file.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

namespace tessera::cli {

namespace {

struct run_args {
  std::string model;
  int64_t batch = 1;
  uint64_t seed = 1;
  uint32_t repeat = 1;
  std::vector<std::string> input_files;
  std::vector<std::string> output_files;
};

// A .npy input: its dtype and every dimension but the batch must be the model's.
caf::expected<tensor_buffer> npy_input(const io_spec& in, const std::string& bytes,
                                       const std::string& file) {
  auto t = read_npy(bytes, "--input " + in.name + "=" + file);
  if (!t)
    return t.error();
  bool fits = t->spec.type == in.spec.type && t->spec.shape.size() == in.spec.shape.size();
  for (size_t d = 1; fits && d < t->spec.shape.size(); ++d)
    fits = in.spec.shape[d] < 0 || in.spec.shape[d] == t->spec.shape[d];
  if (!fits)
    return make_error(ec::shape_mismatch, "--input " + in.name + "=" + file + " holds " +
                                              to_string(t->spec) + ", the model takes " +
                                              to_string(in.spec) +
                                              " (the first dimension is the batch)");
  return t;
}

// Writes the outputs `--output` names: NAME=FILE, or FILE for the only output.
caf::error write_outputs(const model_manifest& m, const std::vector<tensor_buffer>& outs,
                         const std::vector<std::string>& targets) {
  for (const auto& item : targets) {
    auto eq = item.find('=');
    std::string name = eq == std::string::npos ? "" : item.substr(0, eq);
    std::string file = eq == std::string::npos ? item : item.substr(eq + 1);
    if (name.empty() && m.outputs.size() != 1)
      return make_error(ec::invalid_argument, "--output " + item + ": model \"" + m.name +
                                                  "\" has " + std::to_string(m.outputs.size()) +
                                                  " outputs; say which: NAME=FILE");
    size_t k = 0;
    while (!name.empty() && k < m.outputs.size() && m.outputs[k].name != name)
      ++k;
    if (k >= m.outputs.size() || k >= outs.size())
      return make_error(ec::invalid_argument, "--output " + item + ": model \"" + m.name +
                                                  "\" has no output \"" + name + "\"");
    auto npy = write_npy(outs[k]);
    if (!npy)
      return npy.error();
    std::ofstream f{file, std::ios::binary | std::ios::trunc};
    f.write(npy->data(), static_cast<std::streamsize>(npy->size()));
    if (!f)
      return make_error(ec::io_error, "--output " + item + ": cannot write " + file);
    std::printf("wrote %s (%s) to %s\n", m.outputs[k].name.c_str(), to_string(outs[k].spec).c_str(),
                file.c_str());
  }
  return {};
}

// Reads NAME=FILE raw little-endian tensors; the batch follows from the size.
caf::expected<std::vector<tensor_buffer>> read_inputs(const model_manifest& m,
                                                      const run_args& args) {
  auto out = random_inputs(m, args.batch, args.seed);
  for (const auto& item : args.input_files) {
    auto eq = item.find('=');
    if (eq == std::string::npos)
      return make_error(ec::invalid_argument, "--input " + item + ": expected NAME=FILE");
    auto name = item.substr(0, eq);
    auto it = std::find_if(m.inputs.begin(), m.inputs.end(),
                           [&](const io_spec& s) { return s.name == name; });
    if (it == m.inputs.end())
      return make_error(ec::missing_input, "model \"" + m.name + "\" has no input \"" + name + "\"");
    std::string bytes;
    auto file = item.substr(eq + 1);
    if (auto err = store::read_whole_file(file, bytes))
      return err;
    if (is_npy(bytes)) {
      auto t = npy_input(*it, bytes, file);
      if (!t)
        return t.error();
      out[static_cast<size_t>(it - m.inputs.begin())] = std::move(*t);
      continue;
    }
    auto per_sample = with_batch(it->spec, 1).bytes();
    if (bytes.empty() || bytes.size() % per_sample != 0)
      return make_error(ec::shape_mismatch, "--input " + name + ": " + std::to_string(bytes.size())
                                              + " bytes is not a multiple of one sample ("
                                              + std::to_string(per_sample) + " bytes of "
                                              + to_string(it->spec) + ")");
    auto batch = static_cast<int64_t>(bytes.size() / per_sample);
    out[static_cast<size_t>(it - m.inputs.begin())] =
      tensor_buffer::copy_of(with_batch(it->spec, batch), bytes.data());
  }
  return out;
}

} // namespace

void add_run_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("run", "run one local inference and print the outputs");
  auto args = std::make_shared<run_args>();
  auto group = std::make_shared<group_run_args>();
  auto* model_opt = cmd->add_option("-m,--model", args->model, "NAME or NAME:VERSION");
  cmd->add_option("-g,--group", group->group, "run a fused group (see `tessera fuse`) instead of a model")
    ->excludes(model_opt);
  cmd->add_option("--member", group->members, "with --group: answer only for these members (default: all)");
  cmd->add_option("-b,--batch", args->batch, "batch size of the random input")->check(CLI::Range(1, 4096));
  cmd->add_option("--seed", args->seed, "seed of the random input");
  cmd->add_option("--repeat", args->repeat, "run this many times and report the median latency")
    ->check(CLI::Range(1, 10000));
  cmd->add_option("-i,--input", args->input_files,
                  "NAME=FILE: an input from a .npy file, or from raw little-endian bytes "
                  "(the batch from the size)");
  cmd->add_option("-o,--output", args->output_files,
                  "NAME=FILE, or FILE for a model's only output: write the whole output as .npy");
  cmd->callback([&ctx, &action, args, group] {
    if (!group->group.empty()) {
      if (!args->output_files.empty())
        throw CLI::ValidationError("--output", "writes a model's outputs; use it with --model");
      group->batch = args->batch;
      group->seed = args->seed;
      group->repeat = args->repeat;
      action = [&ctx, group] { return run_group_command(ctx, *group); };
      return;
    }
    if (args->model.empty())
      throw CLI::RequiredError("--model or --group");
    action = [&ctx, args]() -> int {
      auto store = ctx.open_store(false);
      if (!store)
        return fail(store.error());
      auto rt = local_runtime::open(ctx.config(), std::move(*store));
      if (!rt)
        return fail(rt.error());
      backend::load_report load;
      auto model = (*rt)->model(args->model, &load);
      if (!model)
        return fail(model.error());
      const auto& m = (*model)->manifest();
      auto inputs = read_inputs(m, *args);
      if (!inputs)
        return fail(inputs.error());
      std::printf("%s: loaded %zu blobs (%s) in %.1f ms, %zu skeletons compiled\n",
                  model_ref(m).c_str(), load.blobs, format_mib(load.bytes).c_str(), load.elapsed_ms,
                  load.skeletons_compiled);
      std::vector<double> ms;
      caf::expected<std::vector<tensor_buffer>> out{std::vector<tensor_buffer>{}};
      for (uint32_t i = 0; i < args->repeat; ++i) {
        auto start = std::chrono::steady_clock::now();
        out = (*rt)->run(**model, *inputs);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        if (!out)
          return fail(out.error());
      }
      std::sort(ms.begin(), ms.end());
      std::printf("ran batch %lld in %.1f ms (median of %u)\n",
                  static_cast<long long>((*inputs)[0].spec.shape[0]), ms[ms.size() / 2], args->repeat);
      print_outputs(m, *out);
      if (auto err = write_outputs(m, *out, args->output_files))
        return fail(err);
      return 0;
    };
  });
}

} // namespace tessera::cli
