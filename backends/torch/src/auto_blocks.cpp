#include "auto_blocks.hpp"

#include "graph_lowering.hpp"
#include "tessera/core/error.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

namespace tessera::torch_backend {

namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// At most this many tensors may be live across a cut. Cuts with fewer are
/// always preferred (SwapNet's small live state); more are taken only to cut
/// a span that is still too large, such as a layer computed in slices.
constexpr size_t max_live = 8;
/// A cut inside one submodule, below every submodule boundary.
constexpr size_t inside_module = 1000;

/// The submodule path of an inlined operation: "layer1.0.conv1", or "" for
/// code of the top module itself.
std::vector<std::string> module_path(Node* n) {
  std::vector<std::string> path;
  auto cs = n->callstack();
  if (!cs)
    return path;
  for (const auto& entry : (*cs)->vec()) {
    const auto& info = std::get<2>(entry);
    if (info && info->instance_name() != "SELF")
      path.push_back(info->instance_name());
  }
  return path;
}

/// How many leading submodule names two paths share.
size_t shared_prefix(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n])
    ++n;
  return n;
}

/// 1 where the top-level submodules of `a` and `b` differ, 2 where they share
/// it and differ below, ...; `inside_module` where both are in one submodule.
size_t boundary_depth(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  auto i = shared_prefix(a, b);
  return i == a.size() && i == b.size() ? inside_module : i + 1;
}

/// Whether a node (or one nested in it) may change one of its inputs in place.
bool mutates(Node* n) {
  if (const auto* schema = n->maybeSchema(); schema != nullptr && schema->is_mutable())
    return true;
  for (auto* b : n->blocks())
    for (Node* inner : b->nodes())
      if (mutates(inner))
        return true;
  return false;
}

/// The operations of the graph's top level and what flows between them.
struct op_graph {
  const lowered& low;
  std::vector<Node*> ops;                ///< top-level nodes but constants and the output tuple
  std::vector<std::vector<Value*>> uses; ///< values each op reads (at any depth), in order
  std::vector<std::vector<size_t>> param_uses; ///< params each op reads, by index
  std::unordered_map<Value*, ptrdiff_t> def;   ///< op index, or -1 for a model input
  std::unordered_map<Value*, size_t> last_use; ///< ops.size() for a model output
  std::vector<Value*> model_outputs;
  std::vector<size_t> live;  ///< tensors live after op k (SIZE_MAX: not a cut)
  std::vector<size_t> depth; ///< boundary_depth after op k

  explicit op_graph(const lowered& l) : low(l) {
    auto& g = *low.graph;
    std::unordered_map<Value*, size_t> param_index;
    for (size_t i = 0; i < g.inputs().size(); ++i) {
      if (i < low.real_inputs)
        def[g.inputs()[i]] = -1;
      else
        param_index[g.inputs()[i]] = i - low.real_inputs;
    }
    Node* tuple = nullptr;
    Value* result = g.outputs().at(0);
    if (result->node()->kind() == c10::prim::TupleConstruct &&
        result->node()->owningBlock() == g.block() && result->uses().size() == 1)
      tuple = result->node();
    for (Node* n : g.nodes()) {
      if (n->kind() == c10::prim::Constant || n == tuple)
        continue;
      for (Value* v : n->outputs())
        def[v] = static_cast<ptrdiff_t>(ops.size());
      ops.push_back(n);
    }
    for (size_t i = 0; i < ops.size(); ++i) {
      std::vector<Value*> vs;
      std::vector<size_t> ps;
      std::set<Value*> seen;
      std::function<void(Node*)> visit = [&](Node* n) {
        for (Value* v : n->inputs()) {
          if (!seen.insert(v).second)
            continue;
          if (auto p = param_index.find(v); p != param_index.end())
            ps.push_back(p->second);
          else if (def.count(v) > 0)
            vs.push_back(v);
        }
        for (auto* b : n->blocks()) {
          for (Node* inner : b->nodes())
            visit(inner);
          visit(b->return_node());
        }
      };
      visit(ops[i]);
      for (Value* v : vs)
        last_use[v] = i;
      uses.push_back(std::move(vs));
      param_uses.push_back(std::move(ps));
    }
    model_outputs = tuple != nullptr
                        ? std::vector<Value*>(tuple->inputs().begin(), tuple->inputs().end())
                        : std::vector<Value*>{result};
    for (Value* v : model_outputs)
      last_use[v] = ops.size();
    // The live set after each op, kept as the ops go.
    std::set<Value*> alive;
    for (size_t i = 0; i < low.real_inputs; ++i)
      if (last_use.count(g.inputs()[i]) > 0)
        alive.insert(g.inputs()[i]);
    for (size_t k = 0; k < ops.size(); ++k) {
      for (Value* v : ops[k]->outputs())
        if (last_use.count(v) > 0)
          alive.insert(v);
      for (auto it = alive.begin(); it != alive.end();)
        it = last_use[*it] <= k ? alive.erase(it) : std::next(it);
      bool tensors = std::all_of(alive.begin(), alive.end(), [](Value* v) {
        return v->type()->cast<c10::TensorType>() != nullptr;
      });
      live.push_back(tensors && !alive.empty() && alive.size() <= max_live ? alive.size()
                                                                           : SIZE_MAX);
      depth.push_back(k + 1 < ops.size()
                          ? boundary_depth(module_path(ops[k]), module_path(ops[k + 1]))
                          : inside_module);
    }
    // A value that a later op changes in place never crosses a cut before that
    // op: in a fused group the block that makes it may be shared, and the
    // change would reach the other member's copy (ReLU(inplace=True) is
    // torch.relu_).
    for (size_t i = 0; i < ops.size(); ++i)
      if (mutates(ops[i]))
        for (Value* v : uses[i])
          for (size_t k = static_cast<size_t>(std::max<ptrdiff_t>(def.at(v), 0)); k < i; ++k)
            live[k] = SIZE_MAX;
  }

  uint64_t bytes(size_t begin, size_t end) const {
    std::set<size_t> ps;
    for (size_t i = begin; i < end; ++i)
      ps.insert(param_uses[i].begin(), param_uses[i].end());
    uint64_t total = 0;
    for (auto p : ps)
      total += low.params[p].second.nbytes();
    return total;
  }
};

struct span {
  size_t begin, end;
};

// Cuts [begin, end) at its best cut points (always at the top, where `top`
// is set) and each part still above `limit` again, until each fits or cannot
// be cut. Parts from one cut then merge with their neighbours: parts of one
// submodule while together they fit `limit` (a part under 1/64 of it always
// joins the one before); whole submodules only while together they stay under
// 1/64 of it, so that a retrained module shares a block with little else and
// fine-tunes share nearly every byte they share as blobs.
void split(const op_graph& og, size_t begin, size_t end, uint64_t limit, bool top,
           std::vector<span>& out) {
  std::pair<size_t, size_t> best{SIZE_MAX, SIZE_MAX};
  for (size_t k = begin; k + 1 < end; ++k)
    if (og.live[k] != SIZE_MAX)
      best = std::min(best, {og.live[k], og.depth[k]});
  if ((!top && og.bytes(begin, end) <= limit) || best.first == SIZE_MAX) {
    out.push_back({begin, end});
    return;
  }
  const bool inside = best.second == inside_module;
  const uint64_t merged_limit = inside ? limit : limit / 64;
  const size_t first_out = out.size();
  bool mergeable = false; // the last span out came from this cut and fits
  size_t from = begin;
  for (size_t k = begin; k < end; ++k) {
    if (k + 1 < end && std::make_pair(og.live[k], og.depth[k]) != best)
      continue;
    span piece{from, k + 1};
    from = k + 1;
    if (inside && out.size() > first_out && og.bytes(piece.begin, piece.end) <= limit / 64) {
      out.back().end = piece.end; // a norm after its convolution, say: not a block of its own
    } else if (og.bytes(piece.begin, piece.end) > limit) {
      split(og, piece.begin, piece.end, limit, false, out);
      mergeable = false;
    } else if (mergeable && og.bytes(out.back().begin, piece.end) <= merged_limit) {
      out.back().end = piece.end;
    } else {
      out.push_back(piece);
      mergeable = true;
    }
  }
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts)
    s += (s.empty() ? "" : ".") + p;
  return s;
}

// The submodule a span lies in: the longest path its ops share.
std::vector<std::string> span_parts(const op_graph& og, const span& s) {
  auto common = module_path(og.ops[s.begin]);
  for (size_t i = s.begin + 1; i < s.end; ++i)
    common.resize(shared_prefix(common, module_path(og.ops[i])));
  return common;
}

// A span without tensors (an activation, a pooling, an add) is not worth a
// block: it joins the neighbour that shares more of its submodule path (the
// one before on a tie), so it stays with its own module, and a module that
// cuts differently in a fine-tune does not change its neighbour's block.
std::vector<span> join_empty_spans(const op_graph& og, const std::vector<span>& cut) {
  std::vector<span> spans;
  std::optional<size_t> carried; ///< the begin of a span joining the next
  for (size_t i = 0; i < cut.size(); ++i) {
    auto s = cut[i];
    if (carried)
      s.begin = *carried;
    carried.reset();
    bool empty = og.bytes(s.begin, s.end) == 0;
    if (empty && i + 1 < cut.size()) {
      auto own = span_parts(og, s);
      if (spans.empty() || shared_prefix(own, span_parts(og, cut[i + 1])) >
                               shared_prefix(own, span_parts(og, spans.back()))) {
        carried = s.begin;
        continue;
      }
    }
    if (empty && !spans.empty())
      spans.back().end = s.end;
    else
      spans.push_back(s); // or a model with no tensors at all: the whole of it
  }
  return spans;
}

// The block of one span: a graph of its ops whose inputs are the values it
// reads from before it, then its tensors; printed as a script skeleton.
// `ref` names where each value comes from and learns the block's outputs.
caf::expected<cut_block> build_block(const op_graph& og, const span& sp, const std::string& name,
                                     std::unordered_map<Value*, std::string>& ref) {
  auto [begin, end] = sp;
  cut_block blk;
  auto path = joined(span_parts(og, sp));
  blk.name = name + (path.empty() ? "" : "-" + path);
  // Inputs: values from before the span, in the order they were made.
  std::vector<Value*> ins, outs;
  std::set<Value*> inside;
  for (size_t i = begin; i < end; ++i)
    for (Value* v : og.ops[i]->outputs())
      inside.insert(v);
  for (size_t i = begin; i < end; ++i)
    for (Value* v : og.uses[i])
      if (inside.count(v) == 0 && std::find(ins.begin(), ins.end(), v) == ins.end())
        ins.push_back(v);
  std::stable_sort(ins.begin(), ins.end(), [&](Value* a, Value* b) {
    return og.def.at(a) < og.def.at(b) ||
           (og.def.at(a) == og.def.at(b) && a->offset() < b->offset());
  });
  for (size_t i = begin; i < end; ++i)
    for (Value* v : og.ops[i]->outputs())
      if (auto u = og.last_use.find(v); u != og.last_use.end() && u->second >= end)
        outs.push_back(v);
  if (outs.empty())
    return make_error(ec::unsupported, "block " + blk.name + " computes nothing used after it");
  std::vector<size_t> params;
  for (size_t i = begin; i < end; ++i)
    for (auto p : og.param_uses[i])
      if (std::find(params.begin(), params.end(), p) == params.end())
        params.push_back(p);

  auto g = std::make_shared<Graph>();
  std::unordered_map<Value*, Value*> env;
  for (Value* v : ins) {
    Value* x = g->addInput();
    x->setType(v->type());
    env[v] = x;
    blk.inputs.push_back(ref.at(v));
  }
  for (size_t k = 0; k < params.size(); ++k) {
    Value* src = og.low.graph->inputs()[og.low.real_inputs + params[k]];
    Value* p = g->addInput();
    p->setType(src->type());
    env[src] = p;
    blk.params.push_back(og.low.params[params[k]].second);
  }
  std::function<Value*(Value*)> map = [&](Value* v) -> Value* {
    if (auto e = env.find(v); e != env.end())
      return e->second;
    if (v->node()->kind() != c10::prim::Constant)
      throw std::logic_error("a value crosses a block boundary unseen");
    auto* c = g->insertNode(g->createClone(v->node(), map));
    return env[v] = c->output();
  };
  for (size_t i = begin; i < end; ++i) {
    Node* c = g->createClone(og.ops[i], map);
    g->insertNode(c);
    for (size_t o = 0; o < c->outputs().size(); ++o)
      env[og.ops[i]->outputs()[o]] = c->outputs()[o];
  }
  if (outs.size() == 1) {
    g->registerOutput(env.at(outs[0]));
    ref[outs[0]] = blk.name;
  } else {
    std::vector<Value*> elements;
    for (size_t o = 0; o < outs.size(); ++o) {
      elements.push_back(env.at(outs[o]));
      ref[outs[o]] = blk.name + ":" + std::to_string(o);
    }
    g->registerOutput(g->insertNode(g->createTuple(elements))->output());
  }
  blk.outputs = outs.size();
  std::vector<std::pair<size_t, std::string>> param_names;
  for (size_t k = 0; k < params.size(); ++k)
    param_names.emplace_back(ins.size() + k, "p" + std::to_string(k));
  auto source = print_function(g, param_names);
  if (!source)
    return wrap(source.error(), "block " + blk.name);
  blk.source = std::move(*source);
  return blk;
}

} // namespace

caf::expected<cut_model> cut_into_blocks(const torch::jit::Module& mod,
                                         const std::vector<std::string>& input_names,
                                         uint64_t max_block_bytes) {
  auto low = lower(mod);
  if (!low)
    return low.error();
  if (low->real_inputs != input_names.size())
    return make_error(ec::invalid_argument, "forward takes " + std::to_string(low->real_inputs) +
                                                " inputs, " + std::to_string(input_names.size()) +
                                                " are declared");
  op_graph og{*low};
  if (og.ops.empty())
    return make_error(ec::unsupported, "forward computes nothing");
  std::vector<span> cut;
  if (max_block_bytes == keep_whole)
    cut.push_back({0, og.ops.size()});
  else
    split(og, 0, og.ops.size(), max_block_bytes > 0 ? max_block_bytes : default_max_block_bytes,
          true, cut);
  auto spans = join_empty_spans(og, cut);
  cut_model out;
  // Where each value comes from, as a node input names it.
  std::unordered_map<Value*, std::string> ref;
  for (size_t i = 0; i < low->real_inputs; ++i)
    ref[low->graph->inputs()[i]] = input_names[i];
  for (size_t s = 0; s < spans.size(); ++s) {
    auto blk = build_block(og, spans[s], "b" + std::to_string(s), ref);
    if (!blk)
      return blk.error();
    out.blocks.push_back(std::move(*blk));
  }
  for (Value* v : og.model_outputs) {
    auto r = ref.find(v);
    if (r == ref.end())
      return make_error(ec::unsupported, "a model output is not computed by any block");
    out.outputs.push_back(r->second);
  }
  return out;
}

} // namespace tessera::torch_backend
