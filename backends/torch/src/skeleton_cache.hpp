// Compiled block skeletons, one per content id per process. Compiling TorchScript
// costs milliseconds per block, far more than binding parameters, so every model
// that shares a skeleton's code shares its compiled form.
// Private to backends/torch (it includes LibTorch).
#pragma once

#include "tessera/store/skeleton_store.hpp"
#include "tessera/torch/torch_executor.hpp"

#include <caf/expected.hpp>
#include <torch/script.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessera::torch_backend {

struct compiled_skeleton {
  content_id id;
  store::skeleton_kind kind = store::skeleton_kind::script;
  /// script kind: the compiled `forward` function and its argument names.
  std::shared_ptr<torch::jit::CompilationUnit> unit;
  torch::jit::Function* function = nullptr;
  std::vector<std::string> argument_names;
  /// module kind: the emptied module that models clone and bind into.
  std::shared_ptr<torch::jit::Module> module_template;
  /// module kind: number of arguments of forward, without self.
  size_t module_arity = 0;
  /// The source text (script kind), kept for export.
  std::string source;
  /// Whether the function came from the kept graph rather than the source.
  bool from_graph = false;
};

/// Compiles a script skeleton's source. Beside `torch.`, it resolves the
/// `ops.` names TorchScript's printer writes for some operations
/// (`ops.prim.RaiseException`), so source printed from a graph compiles back.
std::shared_ptr<torch::jit::CompilationUnit> compile_script(const std::string& source);

/// The text form of a compiled function's graph, which parse_graph reads.
std::string print_graph(torch::jit::Function& fn);

/// A compilation unit whose `forward` is the graph `text` describes: about
/// a tenth of what compiling the source costs. Throws where LibTorch cannot
/// parse the text.
std::shared_ptr<torch::jit::CompilationUnit> parse_graph(const std::string& text);

class skeleton_cache {
public:
  /// The cache shared by every executor of this process.
  static skeleton_cache& process_wide();

  /// Returns the compiled skeleton, reading and compiling it on first use
  /// (from its kept graph where the store has one for this runtime).
  /// `compiled` is set when this call compiled it.
  caf::expected<std::shared_ptr<const compiled_skeleton>>
  get(const content_id& id, const store::skeleton_store& skeletons, bool* compiled = nullptr);

  /// Whether the skeleton is compiled already.
  bool has(const content_id& id) const;

  /// Compiles a source directly, or parses its kept graph where one is given
  /// and parses (a graph that does not parse falls back to the source).
  static caf::expected<std::shared_ptr<const compiled_skeleton>>
  compile(const store::skeleton_source& src, const std::string* graph = nullptr);

  /// Forgets every compiled skeleton (benchmarks measure cold compilation).
  void clear();

  size_t size() const;

private:
  mutable std::mutex mtx_;
  std::unordered_map<content_id, std::shared_ptr<const compiled_skeleton>> entries_;
};

} // namespace tessera::torch_backend
