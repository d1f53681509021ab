// `tessera import`: brings a user's TorchScript file (cut into blocks along its
// forward graph, or kept whole) or a folder of TorchScript stages with a
// dag.json (one block per stage) into the store.
#include "commands.hpp"

#include "tessera/core/error.hpp"
#include "tessera/store/store_gc.hpp"
#include "tessera/torch/torchscript_files.hpp"

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

namespace tessera::cli {

namespace {

// The dag.json format, for `tessera import --help` (docs/model-format.md).
constexpr const char* dag_format =
    R"(A folder of stages holds one TorchScript file per stage and a dag.json:
  {"name": "my-model", "version": 1, "family": "resnet",
   "inputs":  [{"name": "image", "dtype": "float32", "shape": [-1, 3, 224, 224]}],
   "outputs": [{"name": "logits", "from": "head", "dtype": "float32", "shape": [-1, 1000]}],
   "stages":  [{"name": "stem", "file": "stem.pt", "inputs": ["image"]},
               {"name": "head", "file": "head.pt", "inputs": ["stem"]}]}
Each stage's inputs are model inputs or earlier stages ("stage:k" picks element k
of a stage that returns a tuple); an output's "from" names the stage computing it.
Shapes start with the batch dimension, -1. Before anything is stored, the stages
run once on sample inputs: every declared output's dtype and shape, and that
every stage's output is used, are checked.)";

// "image:float32:-1x3x224x224" (or 1,3,224,224): the batch dimension first.
caf::expected<io_spec> parse_input_spec(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return make_error(ec::invalid_argument,
                      "--input " + text + ": " + why +
                          "; expected NAME:DTYPE:SHAPE with the batch dimension first, e.g. "
                          "image:float32:-1x3x224x224");
  };
  auto c1 = text.find(':');
  auto c2 = c1 == std::string::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string::npos)
    return bad("no NAME:DTYPE:SHAPE");
  io_spec io;
  io.name = text.substr(0, c1);
  if (io.name.empty())
    return bad("no name");
  auto type = parse_dtype(text.substr(c1 + 1, c2 - c1 - 1));
  if (!type)
    return wrap(type.error(), "--input " + text);
  io.spec.type = *type;
  auto dims = text.substr(c2 + 1);
  char sep = dims.find(',') != std::string::npos ? ',' : 'x';
  size_t at = 0;
  while (at <= dims.size()) {
    auto next = dims.find(sep, at);
    auto d = dims.substr(at, next == std::string::npos ? std::string::npos : next - at);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
    if (d.empty() || ec != std::errc{} || end != d.data() + d.size() || v == 0 || v < -1)
      return bad("dimension \"" + d + "\" is not a positive integer (or -1 for the batch)");
    if (v == -1 && !io.spec.shape.empty())
      return bad("only the batch dimension, the first, may be -1");
    io.spec.shape.push_back(v);
    if (next == std::string::npos)
      break;
    at = next + 1;
  }
  if (io.spec.shape.size() < 2)
    return bad("a shape needs the batch dimension and at least one more");
  return io;
}

/// The blobs and skeletons a store holds.
struct store_contents {
  std::set<content_id> blobs, skeletons;
};

store_contents contents_of(const store::block_store& st) {
  store_contents c;
  for (const auto& id : st.blobs().list())
    c.blobs.insert(id);
  for (const auto& id : st.skeletons().list())
    c.skeletons.insert(id);
  return c;
}

// After a failed import: removes what it wrote that no stored model uses, so
// that it leaves nothing behind. The write lock is given up for the collect
// lock; another writer then holding the store leaves the files to `store gc`.
void remove_written(const store::block_store& st, const store_contents& before,
                    store::store_lock writing) {
  auto after = contents_of(st);
  store::gc_scope scope;
  scope.blobs.emplace();
  scope.skeletons.emplace();
  for (const auto& id : after.blobs)
    if (before.blobs.count(id) == 0)
      scope.blobs->push_back(id);
  for (const auto& id : after.skeletons)
    if (before.skeletons.count(id) == 0)
      scope.skeletons->push_back(id);
  if (scope.blobs->empty() && scope.skeletons->empty())
    return;
  { auto released = std::move(writing); }
  auto collecting = store::store_lock::take(st, store::store_lock::mode::collect, false);
  if (collecting)
    (void)store::collect_garbage(st, scope);
}

} // namespace

void add_import_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("import", "import a TorchScript file, or a folder of stages with dag.json");
  cmd->footer(
      std::string{"A file needs --name and one --input per forward() argument. It is cut\n"
                  "into blocks along its forward graph where at most a few tensors are\n"
                  "live, preferring submodule boundaries (docs/model-format.md); --blocks 1\n"
                  "keeps it one block.\n"} +
      dag_format);
  struct args_t {
    std::string path;
    torch_backend::import_options opts;
    std::vector<std::string> inputs;
    std::string blocks = "auto";
    double max_block_mb = 0;
  };
  auto args = std::make_shared<args_t>();
  cmd->add_option("path", args->path, "a TorchScript file, or a folder holding dag.json")->required();
  cmd->add_option("-n,--name", args->opts.name, "model name (required for a file)");
  cmd->add_option("--version", args->opts.version, "model version (file import)")->check(CLI::Range(1u, 1u << 30));
  cmd->add_option(
      "--input", args->inputs,
      "NAME:DTYPE:SHAPE for each forward() argument, in order, the batch dimension "
      "first (required for a file), e.g. image:float32:-1x3x224x224 or FP32:1,3,224,224");
  cmd->add_option("--output", args->opts.output_names, "names of the outputs, in order");
  cmd->add_option("--description", args->opts.description, "one line about the model");
  cmd->add_option("--blocks", args->blocks,
                  "file import: auto (cut along the forward graph, the default) or 1 (one block)")
      ->check(CLI::IsMember({"auto", "1"}));
  cmd->add_option("--max-block-mb", args->max_block_mb,
                  "file import: the size blocks aim under (default 4)")
      ->check(CLI::Range(0.001, 1e6));
  cmd->add_option("--family", args->opts.family,
                  "the model's family, e.g. resnet (a stage folder sets \"family\" in dag.json)");
  cmd->callback([&ctx, &action, args] {
    action = [&ctx, args]() -> int {
      auto store = ctx.open_store(true);
      if (!store)
        return fail(store.error());
      // Blobs are written before the manifest that names them: `store gc`
      // must not take them meanwhile, and a failed import removes them.
      auto writing = store::store_lock::take(*store, store::store_lock::mode::write, false);
      if (!writing)
        return fail(writing.error());
      auto before = contents_of(*store);
      caf::expected<model_manifest> m{model_manifest{}};
      if (std::filesystem::is_directory(args->path)) {
        m = torch_backend::import_torchscript_dag(*store, args->path);
      } else {
        if (args->opts.name.empty() || args->inputs.empty())
          return fail(make_error(ec::invalid_argument,
                                 "importing a file needs " +
                                     std::string{args->opts.name.empty() && args->inputs.empty()
                                                     ? "--name and --input"
                                                 : args->opts.name.empty() ? "--name"
                                                                           : "--input"} +
                                     ", e.g. tessera import model.pt --name my-model --input "
                                     "image:float32:-1x3x224x224"));
        for (const auto& text : args->inputs) {
          auto io = parse_input_spec(text);
          if (!io)
            return fail(io.error());
          args->opts.inputs.push_back(*io);
        }
        args->opts.blocks = args->blocks == "1" ? 1 : 0;
        args->opts.max_block_bytes = static_cast<uint64_t>(args->max_block_mb * 1048576.0);
        args->opts.note = [](const std::string& text) { std::printf("note: %s\n", text.c_str()); };
        m = torch_backend::import_torchscript_file(*store, args->path, args->opts);
      }
      if (!m) {
        remove_written(*store, before, std::move(*writing));
        return fail(m.error());
      }
      std::printf("imported %s: %zu block(s), %zu blob(s), %s of parameters\n",
                  model_ref(*m).c_str(), m->nodes.size(), unique_blobs(*m).size(),
                  format_mib(parameter_bytes(*m)).c_str());
      for (const auto& n : m->nodes) {
        uint64_t bytes = 0;
        for (const auto& p : n.params)
          bytes += p.spec.bytes();
        std::string inputs;
        for (const auto& in : n.inputs)
          inputs += (inputs.empty() ? "" : ", ") + in;
        std::printf("  block %-24s %10s  from %s\n", n.name.c_str(), format_mib(bytes).c_str(),
                    inputs.c_str());
      }
      for (const auto& out : m->outputs)
        std::printf("  output %s: %s\n", out.name.c_str(), to_string(out.spec).c_str());
      return 0;
    };
  });
}

} // namespace tessera::cli
