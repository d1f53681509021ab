// `tessera import`: brings a user's TorchScript file (one block) or a folder of
// TorchScript stages with a dag.json (several blocks) into the store.
#include "commands.hpp"

#include "tessera/core/error.hpp"
#include "tessera/torch/torchscript_files.hpp"

#include <cstdio>
#include <filesystem>
#include <sstream>

namespace tessera::cli {

namespace {

// "image:float32:-1x3x224x224"
caf::expected<io_spec> parse_input_spec(const std::string& text) {
  auto bad = [&] {
    return make_error(ec::invalid_argument, "--input " + text
                                              + ": expected NAME:DTYPE:SHAPE, e.g. image:float32:-1x3x224x224");
  };
  auto c1 = text.find(':');
  auto c2 = c1 == std::string::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string::npos)
    return bad();
  io_spec io;
  io.name = text.substr(0, c1);
  auto type = parse_dtype(text.substr(c1 + 1, c2 - c1 - 1));
  if (!type)
    return type.error();
  io.spec.type = *type;
  std::stringstream dims{text.substr(c2 + 1)};
  std::string d;
  while (std::getline(dims, d, 'x')) {
    try {
      io.spec.shape.push_back(std::stoll(d));
    } catch (const std::exception&) {
      return bad();
    }
  }
  if (io.name.empty() || io.spec.shape.empty())
    return bad();
  return io;
}

} // namespace

void add_import_command(CLI::App& app, cli_context& ctx, command_action& action) {
  auto* cmd = app.add_subcommand("import", "import a TorchScript file, or a folder of stages with dag.json");
  struct args_t {
    std::string path;
    torch_backend::import_options opts;
    std::vector<std::string> inputs;
  };
  auto args = std::make_shared<args_t>();
  cmd->add_option("path", args->path, "a TorchScript file, or a folder holding dag.json")->required();
  cmd->add_option("-n,--name", args->opts.name, "model name (file import)");
  cmd->add_option("--version", args->opts.version, "model version (file import)")->check(CLI::Range(1u, 1u << 30));
  cmd->add_option("--input", args->inputs, "NAME:DTYPE:SHAPE for each input, e.g. image:float32:-1x3x224x224");
  cmd->add_option("--output", args->opts.output_names, "names of the outputs, in order");
  cmd->add_option("--description", args->opts.description, "one line about the model");
  cmd->callback([&ctx, &action, args] {
    action = [&ctx, args]() -> int {
      auto store = ctx.open_store(true);
      if (!store)
        return fail(store.error());
      caf::expected<model_manifest> m{model_manifest{}};
      if (std::filesystem::is_directory(args->path)) {
        m = torch_backend::import_torchscript_dag(*store, args->path);
      } else {
        if (args->opts.name.empty() || args->inputs.empty())
          return fail(make_error(ec::invalid_argument, "importing a file needs --name and --input"));
        for (const auto& text : args->inputs) {
          auto io = parse_input_spec(text);
          if (!io)
            return fail(io.error());
          args->opts.inputs.push_back(*io);
        }
        m = torch_backend::import_torchscript_file(*store, args->path, args->opts);
      }
      if (!m)
        return fail(m.error());
      std::printf("imported %s: %zu node(s), %zu blob(s), %s of parameters\n", model_ref(*m).c_str(),
                  m->nodes.size(), unique_blobs(*m).size(), format_mb(parameter_bytes(*m)).c_str());
      for (const auto& out : m->outputs)
        std::printf("  output %s: %s\n", out.name.c_str(), to_string(out.spec).c_str());
      return 0;
    };
  });
}

} // namespace tessera::cli
