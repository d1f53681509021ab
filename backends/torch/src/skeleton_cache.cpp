#include "skeleton_cache.hpp"

#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"

#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/jit.h>
#include <torch/version.h>

#include <sstream>

namespace tessera::torch_backend {

namespace {

// `ops.prim.X`: the builtin X of namespace prim.
struct ops_namespaces : torch::jit::SugaredValue {
  std::string kind() const override {
    return "ops";
  }
  std::shared_ptr<torch::jit::SugaredValue> attr(const torch::jit::SourceRange&,
                                                 torch::jit::GraphFunction&,
                                                 const std::string& field) override {
    return std::make_shared<torch::jit::BuiltinModule>(field);
  }
};

struct script_resolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue>
  resolveValue(const std::string& name, torch::jit::GraphFunction& m,
               const torch::jit::SourceRange& loc) override {
    if (name == "ops")
      return std::make_shared<ops_namespaces>();
    return torch::jit::nativeResolver()->resolveValue(name, m, loc);
  }
};

} // namespace

std::shared_ptr<torch::jit::CompilationUnit> compile_script(const std::string& source) {
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  unit->define(c10::nullopt, source, std::make_shared<script_resolver>(), nullptr);
  return unit;
}

std::string graph_runtime() {
  return std::string{"libtorch-"} + TORCH_VERSION;
}

std::string print_graph(torch::jit::Function& fn) {
  return torch::jit::toGraphFunction(fn).graph()->toString(false);
}

std::shared_ptr<torch::jit::CompilationUnit> parse_graph(const std::string& text) {
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(text, graph.get());
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  unit->create_function("forward", std::move(graph));
  return unit;
}

skeleton_cache& skeleton_cache::process_wide() {
  static skeleton_cache instance;
  return instance;
}

caf::expected<std::shared_ptr<const compiled_skeleton>>
skeleton_cache::compile(const store::skeleton_source& src, const std::string* graph) {
  auto out = std::make_shared<compiled_skeleton>();
  out->id = src.id;
  out->kind = src.kind;
  auto where = std::string{"skeleton "} + src.id.short_hex() + ": ";
  try {
    if (src.kind == store::skeleton_kind::script) {
      out->source = src.bytes;
      if (graph != nullptr) {
        try {
          out->unit = parse_graph(*graph);
          out->from_graph = true;
        } catch (const std::exception&) {
          // nop: a graph that does not parse is compiled from the source below
        }
      }
      if (!out->unit)
        out->unit = compile_script(src.bytes);
      out->function = out->unit->find_function("forward");
      if (out->function == nullptr)
        return make_error(ec::backend_error, where + "defines no function named forward");
      for (const auto& arg : out->function->getSchema().arguments())
        out->argument_names.push_back(arg.name());
    } else {
      std::istringstream in{src.bytes};
      out->module_template = std::make_shared<torch::jit::Module>(torch::jit::load(in, at::kCPU));
      out->module_template->eval();
      auto forward = out->module_template->find_method("forward");
      if (!forward)
        return make_error(ec::backend_error, where + "module has no forward method");
      out->module_arity = forward->function().getSchema().arguments().size() - 1;
    }
  } catch (const std::exception& e) {
    return make_error(ec::backend_error, where + "does not compile: " + torch_message(e));
  }
  return std::shared_ptr<const compiled_skeleton>{std::move(out)};
}

caf::expected<std::shared_ptr<const compiled_skeleton>>
skeleton_cache::get(const content_id& id, const store::skeleton_store& skeletons,
                    bool* compiled) {
  if (compiled != nullptr)
    *compiled = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto i = entries_.find(id); i != entries_.end())
      return i->second;
  }
  auto src = skeletons.get(id);
  if (!src)
    return src.error();
  // A kept graph that cannot be read (another runtime, a damaged file) only
  // costs the compilation it would have saved.
  auto graph = src->kind == store::skeleton_kind::script
                   ? skeletons.get_graph(id, graph_runtime())
                   : caf::expected<std::optional<std::string>>{std::nullopt};
  const std::string* kept = graph && *graph ? &**graph : nullptr;
  auto result = compile(*src, kept);
  if (!result)
    return result.error();
  std::lock_guard<std::mutex> guard{mtx_};
  auto [i, inserted] = entries_.emplace(id, *result);
  if (compiled != nullptr)
    *compiled = inserted;
  return i->second;
}

bool skeleton_cache::has(const content_id& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return entries_.count(id) > 0;
}

void skeleton_cache::clear() {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_.clear();
}

size_t skeleton_cache::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return entries_.size();
}

} // namespace tessera::torch_backend
