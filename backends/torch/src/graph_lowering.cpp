#include "graph_lowering.hpp"

#include "tessera/core/error.hpp"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/serialization/python_print.h>

#include <map>
#include <unordered_map>

namespace tessera::torch_backend {

namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// The nodes of one kind in `b` and the blocks nested in it, in order.
void collect_nodes(torch::jit::Block* b, c10::Symbol kind, std::vector<Node*>& out) {
  for (Node* n : b->nodes()) {
    if (n->kind() == kind)
      out.push_back(n);
    for (auto* sub : n->blocks())
      collect_nodes(sub, kind, out);
  }
}

// Gives every value of `b` a name from its place alone, so that blocks with
// the same code print the same source whatever the original names were.
void rename(torch::jit::Block* b, size_t& counter) {
  for (Value* v : b->inputs())
    v->setDebugName("v" + std::to_string(counter++));
  for (Node* n : b->nodes()) {
    for (Value* v : n->outputs())
      v->setDebugName("v" + std::to_string(counter++));
    for (auto* sub : n->blocks())
      rename(sub, counter);
  }
}

} // namespace

caf::expected<lowered> lower(const torch::jit::Module& mod) {
  lowered out;
  auto method = mod.find_method("forward");
  if (!method)
    return make_error(ec::unsupported, "the module has no forward method");
  out.graph = method->graph()->copy();
  auto& g = *out.graph;
  torch::jit::Inline(g);
  Value* self = g.inputs().at(0);
  out.real_inputs = g.inputs().size() - 1;
  std::unordered_map<Value*, c10::IValue> objects{{self, mod._ivalue()}};
  std::unordered_map<Value*, std::string> paths{{self, ""}};
  std::map<std::string, Value*> lifted;
  std::vector<Node*> reads;
  collect_nodes(g.block(), c10::prim::GetAttr, reads);
  for (Node* n : reads) {
    auto owner = objects.find(n->input());
    if (owner == objects.end() || !owner->second.isObject())
      return make_error(ec::unsupported, "an attribute is read from a value that is not a module");
    auto name = n->s(c10::attr::name);
    auto path = paths[n->input()].empty() ? name : paths[n->input()] + "." + name;
    auto value = owner->second.toObject()->getAttr(name);
    if (value.isObject()) {
      objects[n->output()] = value;
      paths[n->output()] = path;
      continue;
    }
    Value* replacement = nullptr;
    if (value.isTensor()) {
      auto& in = lifted[path];
      if (in == nullptr) {
        in = g.addInput();
        in->setType(n->output()->type());
        out.params.emplace_back(path, value.toTensor());
      }
      replacement = in;
    } else {
      torch::jit::WithInsertPoint here{n};
      auto c = torch::jit::tryInsertConstant(g, value);
      if (!c)
        return make_error(ec::unsupported, "attribute \"" + path + "\" (" +
                                               value.type()->repr_str() +
                                               ") is neither a tensor nor a constant");
      replacement = *c;
    }
    n->output()->replaceAllUsesWith(replacement);
  }
  // `if self.training:` folds away now that the flag is a constant, and with
  // it what the branch did to the module (a norm's running statistics); the
  // reads of submodules nothing uses any more go too.
  torch::jit::ConstantPropagationImmutableTypes(out.graph);
  torch::jit::EliminateDeadCode(out.graph);
  if (self->hasUses())
    return make_error(ec::unsupported,
                      "forward uses the module beyond reading its attributes (it calls a method "
                      "left as a call, changes an attribute, or passes the module on)");
  g.eraseInput(0);
  // Tensors written into the code (a traced module's constants) are lifted
  // too: a block's code then holds no tensor, and its tensors are blobs.
  std::vector<Node*> constants;
  collect_nodes(g.block(), c10::prim::Constant, constants);
  for (Node* n : constants) {
    if (n->output()->type()->cast<c10::TensorType>() == nullptr)
      continue;
    Value* in = g.addInput();
    in->setType(n->output()->type());
    out.params.emplace_back("constant" + std::to_string(out.params.size()),
                            torch::jit::toIValue(n->output())->toTensor());
    n->output()->replaceAllUsesWith(in);
    n->destroy();
  }
  return out;
}

caf::expected<std::string>
print_function(const std::shared_ptr<Graph>& g,
               const std::vector<std::pair<size_t, std::string>>& names) {
  size_t counter = 0;
  rename(g->block(), counter);
  for (const auto& [input, name] : names)
    g->inputs()[input]->setDebugName(name);
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  auto* fn = unit->create_function(c10::QualifiedName{"forward"}, g);
  std::vector<c10::IValue> constants;
  torch::jit::PrintDepsTable deps;
  torch::jit::PythonPrint printer{constants, deps, nullptr, true};
  printer.printFunction(*fn);
  if (!constants.empty() || deps.size() > 0)
    return make_error(ec::unsupported, "its code needs constants or types beside it");
  return printer.str();
}

} // namespace tessera::torch_backend
