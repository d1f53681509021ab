#include "tessera/torch/torchscript_files.hpp"

#include "auto_blocks.hpp"
#include "skeleton_cache.hpp"
#include "tensor_convert.hpp"
#include "tessera/core/error.hpp"
#include "tessera/store/atomic_file.hpp"

#include <nlohmann/json.hpp>
#include <torch/jit.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>

namespace tessera::torch_backend {

namespace {

// Stores one tensor as a blob (deduplicated), bound under `name`.
caf::expected<param_binding> put_tensor(const store::block_store& store, const std::string& name,
                                        const at::Tensor& value) {
  auto t = value.detach().to(at::kCPU).contiguous();
  auto type = from_scalar_type(t.scalar_type());
  if (!type)
    return wrap(type.error(), "tensor \"" + name + "\"");
  tensor_spec spec{*type, std::vector<int64_t>(t.sizes().begin(), t.sizes().end())};
  auto id = store.blobs().put(spec, t.data_ptr());
  if (!id)
    return id.error();
  return param_binding{name, *id, spec};
}

// Stores a module's tensors as blobs, empties them, and stores what remains as a
// module skeleton. Returns the node (name and inputs left to the caller).
caf::expected<node_spec> split_module(const store::block_store& store,
                                      torch::jit::Module mod) {
  node_spec node;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : mod.named_parameters(true))
    tensors.emplace_back(p.name, p.value);
  for (const auto& b : mod.named_buffers(true))
    tensors.emplace_back(b.name, b.value);
  for (auto& [name, value] : tensors) {
    auto binding = put_tensor(store, name, value);
    if (!binding)
      return binding.error();
    node.params.push_back(std::move(*binding));
  }
  // Empty every tensor so the skeleton holds code only.
  for (auto& [name, value] : tensors) {
    torch::jit::Module owner = mod;
    std::string leaf = name;
    for (auto dot = leaf.find('.'); dot != std::string::npos; dot = leaf.find('.')) {
      owner = owner.attr(leaf.substr(0, dot)).toModule();
      leaf = leaf.substr(dot + 1);
    }
    owner.setattr(leaf, torch::empty({0}, value.options().requires_grad(false)));
  }
  std::ostringstream archive;
  mod.save(archive);
  auto sk = store.skeletons().put(store::skeleton_kind::module, archive.str());
  if (!sk)
    return sk.error();
  node.skeleton = *sk;
  return node;
}

caf::expected<std::vector<tensor_buffer>> sample_inputs(const std::vector<io_spec>& inputs) {
  std::vector<tensor_buffer> out;
  torch::manual_seed(7);
  for (const auto& in : inputs) {
    auto shape = in.spec.shape;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (i == 0)
        shape[i] = 2;
      else if (shape[i] < 0)
        return make_error(ec::invalid_argument, "input \"" + in.name
                                                  + "\": only the batch dimension may be dynamic on import");
    }
    auto type = to_scalar_type(in.spec.type);
    if (!type)
      return type.error();
    auto t = at::isFloatingType(*type) ? torch::randn(shape).to(*type)
                                       : torch::zeros(shape, torch::TensorOptions().dtype(*type));
    auto buf = buffer_of(t);
    if (!buf)
      return buf.error();
    out.push_back(std::move(*buf));
  }
  return out;
}

// A field of a dag.json object, in Tessera's words rather than the JSON
// library's: a missing field and a field of the wrong type name the place.
template <class T>
caf::expected<T> field(const nlohmann::json& obj, const std::string& where, const char* key,
                       const char* expected) {
  if (!obj.is_object())
    return make_error(ec::bad_manifest, where + ": must be an object");
  auto i = obj.find(key);
  if (i == obj.end())
    return make_error(ec::bad_manifest, where + ": missing \"" + key + "\" (" + expected + ")");
  try {
    return i->get<T>();
  } catch (const nlohmann::json::exception&) {
    return make_error(ec::bad_manifest, where + ": \"" + key + "\" must be " + expected);
  }
}

caf::expected<io_spec> parse_io(const nlohmann::json& j, const std::string& where, bool output) {
  io_spec io;
  auto name = field<std::string>(j, where, "name", "a string");
  if (!name)
    return name.error();
  io.name = *name;
  auto type_name = field<std::string>(j, where, "dtype", "a dtype such as \"float32\" or \"FP32\"");
  if (!type_name)
    return type_name.error();
  auto t = parse_dtype(*type_name);
  if (!t)
    return wrap(t.error(), where);
  io.spec.type = *t;
  auto shape =
      field<std::vector<int64_t>>(j, where, "shape", "an array of integers, the batch first (-1)");
  if (!shape)
    return shape.error();
  io.spec.shape = *shape;
  if (output) {
    auto from = field<std::string>(j, where, "from", "the name of the stage that computes it");
    if (!from)
      return from.error();
    io.source = *from;
  }
  return io;
}

// The JSON library's message without its "[json.exception...] " prefix.
std::string json_message(const nlohmann::json::exception& e) {
  std::string text = e.what();
  auto end = text.find("] ");
  return text.rfind("[json.exception", 0) == 0 && end != std::string::npos ? text.substr(end + 2)
                                                                           : text;
}

// A LibTorch error for a person: a TorchScript interpreter error carries a
// traceback of the scripted code (tens of lines); its last line says what failed.
std::string cause_of(const std::exception& e) {
  auto text = torch_message(e);
  if (text.find("Traceback of TorchScript") == std::string::npos)
    return text;
  auto end = text.find_last_not_of(" \n");
  if (end == std::string::npos)
    return text;
  auto start = text.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return text.substr(start, end + 1 - start);
}

/// One stage of a stage folder: its module, and its node as far as known.
struct staged {
  std::string where; ///< "dag.json: stages[i] \"name\"", for messages
  torch::jit::Module module;
  node_spec node;
};

std::string spec_text(const at::Tensor& t) {
  auto type = from_scalar_type(t.scalar_type());
  return (type ? to_string(*type) : std::string{"?"}) +
         shape_to_string(std::vector<int64_t>(t.sizes().begin(), t.sizes().end()));
}

// Runs a module's forward, or a compiled function, once on sample inputs.
// Returns why it failed (LibTorch's last line), or nothing.
template <class Callable>
std::string sample_forward(Callable& code, std::vector<c10::IValue> args, c10::IValue& result) {
  try {
    c10::InferenceMode inference;
    if constexpr (std::is_same_v<Callable, torch::jit::Module>)
      result = code.forward(std::move(args));
    else
      result = code(std::move(args));
    return {};
  } catch (const std::exception& e) {
    return cause_of(e);
  }
}

// Keeps a sample run's result under its stage's name ("name:k" for the
// elements of a tuple) and gives a tensor result's type, its batch dimension
// free. False for a result that is neither a tensor nor a tuple.
bool keep_result(std::map<std::string, at::Tensor>& values, const std::string& name,
                 const c10::IValue& result, std::optional<tensor_spec>& spec) {
  if (result.isTensor()) {
    const auto& t = result.toTensor();
    values[name] = t;
    auto type = from_scalar_type(t.scalar_type());
    auto shape = std::vector<int64_t>(t.sizes().begin(), t.sizes().end());
    if (type && !shape.empty()) {
      shape[0] = dynamic_dim;
      spec = tensor_spec{*type, shape};
    }
    return true;
  }
  if (!result.isTuple())
    return false;
  const auto& elements = result.toTupleRef().elements();
  for (size_t k = 0; k < elements.size(); ++k)
    if (elements[k].isTensor())
      values[name + ":" + std::to_string(k)] = elements[k].toTensor();
  return true;
}

// Runs the stages once on sample inputs (batch 2), in an order their inputs
// allow, and checks the DAG: every input names a model input or a stage,
// every output's stage exists and gives the declared dtype and shape, and
// every stage's output is used. Sets each tensor-returning stage's output type.
caf::error check_stages(const model_manifest& m, std::vector<staged>& stages,
                        std::map<std::string, at::Tensor>& values) {
  auto samples = sample_inputs(m.inputs);
  if (!samples)
    return samples.error();
  for (size_t i = 0; i < m.inputs.size(); ++i)
    values[m.inputs[i].name] = view_of((*samples)[i]).clone();
  std::set<std::string> used;
  std::vector<bool> done(stages.size(), false);
  for (size_t left = stages.size(); left > 0;) {
    size_t before = left;
    for (size_t i = 0; i < stages.size(); ++i) {
      auto& st = stages[i];
      if (done[i] || !std::all_of(st.node.inputs.begin(), st.node.inputs.end(),
                                  [&](const std::string& in) { return values.count(in) > 0; }))
        continue;
      std::vector<c10::IValue> args;
      std::string given;
      for (const auto& in : st.node.inputs) {
        args.emplace_back(values[in]);
        used.insert(in);
        given += (given.empty() ? "" : ", ") + in + " " + spec_text(values[in]);
      }
      c10::IValue result;
      if (auto why = sample_forward(st.module, std::move(args), result); !why.empty())
        return make_error(ec::bad_manifest,
                          st.where + ": the sample run on " + given + " failed: " + why);
      if (!keep_result(values, st.node.name, result, st.node.output))
        return make_error(ec::unsupported,
                          st.where + ": forward must return a tensor or a tuple of tensors");
      done[i] = true;
      --left;
    }
    if (left == before)
      for (size_t i = 0; i < stages.size(); ++i)
        if (!done[i])
          for (const auto& in : stages[i].node.inputs)
            if (values.count(in) == 0)
              return make_error(ec::bad_manifest,
                                stages[i].where + ": input \"" + in +
                                    "\" is neither a model input nor the output of a stage that "
                                    "can run first (a cycle, or a misspelt name)");
  }
  for (size_t i = 0; i < m.outputs.size(); ++i) {
    const auto& out = m.outputs[i];
    auto where = "dag.json: outputs[" + std::to_string(i) + "] \"" + out.name + "\"";
    auto v = values.find(out.source);
    bool is_input = std::any_of(m.inputs.begin(), m.inputs.end(),
                                [&](const io_spec& in) { return in.name == out.source; });
    if (v == values.end() || is_input)
      return make_error(ec::bad_manifest, where + ": \"from\": \"" + out.source +
                                              "\" names no stage (nor \"stage:k\" of a tuple)");
    used.insert(out.source);
    auto got = spec_text(v->second);
    auto type = from_scalar_type(v->second.scalar_type());
    auto shape = std::vector<int64_t>(v->second.sizes().begin(), v->second.sizes().end());
    bool same = type && *type == out.spec.type && shape.size() == out.spec.shape.size();
    for (size_t d = 1; same && d < shape.size(); ++d)
      same = out.spec.shape[d] < 0 || out.spec.shape[d] == shape[d];
    if (!same)
      return make_error(ec::bad_manifest, where + ": declared " + to_string(out.spec) +
                                              ", but stage \"" + out.source + "\" gives " + got +
                                              " for a batch of 2");
  }
  for (const auto& st : stages) {
    bool is_used = used.count(st.node.name) > 0;
    for (const auto& u : used)
      is_used = is_used || u.rfind(st.node.name + ":", 0) == 0;
    if (!is_used)
      return make_error(ec::bad_manifest,
                        st.where + ": nothing uses its output (no stage's \"inputs\", no "
                                   "output's \"from\"); remove the stage or use it");
  }
  return {};
}

/// A module cut into blocks, and each block's output type from the sample run
/// (none where it returns a tuple).
struct checked_cut {
  cut_model cut;
  std::vector<std::optional<tensor_spec>> output_specs;
};

// Cuts the module into automatic blocks and runs them on the sample inputs:
// they must give the module's own outputs bit for bit, or the cut is refused.
caf::expected<checked_cut> cut_checked(const torch::jit::Module& mod, const import_options& opts,
                                       const std::vector<c10::IValue>& args,
                                       const std::vector<at::Tensor>& expected) {
  std::vector<std::string> names;
  for (const auto& in : opts.inputs)
    names.push_back(in.name);
  auto cut = cut_into_blocks(mod, names, opts.max_block_bytes);
  if (!cut)
    return cut.error();
  if (cut->blocks.size() < 2)
    return make_error(ec::unsupported, "the forward graph has no place to cut (control flow, or "
                                       "no point where at most two tensors are live)");
  std::map<std::string, at::Tensor> values;
  for (size_t i = 0; i < names.size(); ++i)
    values[names[i]] = args[i].toTensor();
  checked_cut out;
  for (auto& b : cut->blocks) {
    // Compiled as the executor compiles a script skeleton: what is checked
    // here is what runs.
    std::shared_ptr<torch::jit::CompilationUnit> unit;
    try {
      unit = compile_script(b.source);
    } catch (const std::exception& e) {
      return make_error(ec::backend_error,
                        "block " + b.name + "'s code does not compile back: " + cause_of(e));
    }
    std::vector<c10::IValue> in;
    for (const auto& r : b.inputs)
      in.emplace_back(values.at(r));
    for (const auto& p : b.params)
      in.emplace_back(p);
    c10::IValue result;
    if (auto why = sample_forward(unit->get_function("forward"), std::move(in), result);
        !why.empty())
      return make_error(ec::backend_error, "block " + b.name + " fails its sample run: " + why);
    std::optional<tensor_spec> spec;
    bool fits = b.outputs == 1
                    ? result.isTensor()
                    : result.isTuple() && result.toTupleRef().elements().size() == b.outputs;
    if (!fits || !keep_result(values, b.name, result, spec))
      return make_error(ec::backend_error, "block " + b.name + " returns other than it should");
    out.output_specs.push_back(spec);
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    auto v = values.find(cut->outputs.at(i));
    if (v == values.end() || !v->second.is_same_size(expected[i]) ||
        v->second.scalar_type() != expected[i].scalar_type() ||
        !torch::equal(v->second, expected[i]))
      return make_error(ec::backend_error, "the blocks do not give the module's output " +
                                               std::to_string(i) + " bit for bit");
  }
  out.cut = std::move(*cut);
  return out;
}

// Stores an automatic block: its code as a script skeleton, its tensors as
// blobs bound to the arguments p0, p1, ...
caf::expected<node_spec> store_block(const store::block_store& store, const cut_block& b) {
  node_spec node;
  node.name = b.name;
  node.inputs = b.inputs;
  auto sk = store.skeletons().put(store::skeleton_kind::script, b.source);
  if (!sk)
    return sk.error();
  node.skeleton = *sk;
  for (size_t k = 0; k < b.params.size(); ++k) {
    auto binding = put_tensor(store, "p" + std::to_string(k), b.params[k]);
    if (!binding)
      return binding.error();
    node.params.push_back(std::move(*binding));
  }
  return node;
}

// A stage as one script block whose arguments are the stage's inputs, in
// order, if it lowers, returns what the stage returns in the same order, and
// gives the stage's sample outputs bit for bit; else nothing.
std::optional<cut_block> as_script_block(const staged& st,
                                         const std::map<std::string, at::Tensor>& values) {
  auto whole = cut_into_blocks(st.module, st.node.inputs, keep_whole);
  if (!whole || whole->blocks.size() != 1 || whole->blocks[0].inputs != st.node.inputs)
    return std::nullopt;
  auto& b = whole->blocks[0];
  for (size_t k = 0; k < whole->outputs.size(); ++k)
    if (whole->outputs[k] !=
        (whole->outputs.size() == 1 ? b.name : b.name + ":" + std::to_string(k)))
      return std::nullopt;
  std::vector<c10::IValue> args;
  for (const auto& in : st.node.inputs)
    args.emplace_back(values.at(in));
  for (const auto& p : b.params)
    args.emplace_back(p);
  c10::IValue result;
  try {
    auto unit = compile_script(b.source);
    if (!sample_forward(unit->get_function("forward"), std::move(args), result).empty())
      return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  auto same = [](const c10::IValue& v, const at::Tensor* want) {
    return want != nullptr && v.isTensor() && v.toTensor().scalar_type() == want->scalar_type() &&
           v.toTensor().sizes() == want->sizes() && torch::equal(v.toTensor(), *want);
  };
  auto find = [&](const std::string& key) -> const at::Tensor* {
    auto i = values.find(key);
    return i == values.end() ? nullptr : &i->second;
  };
  if (result.isTuple()) {
    const auto& elements = result.toTupleRef().elements();
    for (size_t k = 0; k < elements.size(); ++k)
      if (!same(elements[k], find(st.node.name + ":" + std::to_string(k))))
        return std::nullopt;
  } else if (!same(result, find(st.node.name))) {
    return std::nullopt;
  }
  return std::move(b);
}

} // namespace

caf::expected<model_manifest> import_torchscript_file(const store::block_store& store,
                                                      const std::string& path,
                                                      const import_options& opts) {
  model_manifest m;
  m.name = opts.name;
  m.version = opts.version;
  m.description = opts.description.empty() ? "imported from " + path : opts.description;
  m.family = opts.family;
  m.inputs = opts.inputs;
  auto who = "import of " + path;
  // Checked first, so that a bad name leaves nothing behind.
  if (auto err = store::check_model_name(m.name))
    return wrap(err, who);
  if (!std::filesystem::is_regular_file(path))
    return make_error(ec::io_error, who + ": no such file (a TorchScript file, or a folder of "
                                          "stages with a dag.json)");
  try {
    torch::jit::Module mod;
    try {
      mod = torch::jit::load(path, at::kCPU);
    } catch (const std::exception& e) {
      return make_error(ec::invalid_argument,
                        who +
                            ": not a TorchScript file torch::jit::load can read (save one with "
                            "torch.jit.script(m).save or torch.jit.trace(m, x).save): " +
                            cause_of(e));
    }
    mod.eval();
    auto samples = sample_inputs(opts.inputs);
    if (!samples)
      return wrap(samples.error(), who);
    std::vector<c10::IValue> args;
    for (const auto& s : *samples)
      args.emplace_back(view_of(s));
    c10::IValue result;
    if (auto why = sample_forward(mod, args, result); !why.empty()) {
      std::string given;
      for (size_t i = 0; i < opts.inputs.size(); ++i)
        given +=
            (i > 0 ? ", " : "") + opts.inputs[i].name + " " + spec_text(view_of((*samples)[i]));
      return make_error(ec::invalid_argument,
                        who + ": the sample run on " + given + " failed: " + why +
                            " (each --input shape starts with the batch dimension, -1, then the "
                            "model's own, e.g. image:float32:-1x3x224x224)");
    }
    std::vector<at::Tensor> outs;
    if (result.isTensor())
      outs.push_back(result.toTensor());
    else if (result.isTuple())
      for (const auto& e : result.toTupleRef().elements()) {
        if (!e.isTensor())
          return make_error(ec::unsupported, who + ": forward returns a tuple with a non-tensor");
        outs.push_back(e.toTensor());
      }
    else
      return make_error(ec::unsupported, who + ": forward must return a tensor or a tuple of tensors");
    std::vector<std::string> sources;
    if (opts.blocks != 1) {
      auto checked = cut_checked(mod, opts, args, outs);
      if (checked) {
        for (size_t i = 0; i < checked->cut.blocks.size(); ++i) {
          auto& b = checked->cut.blocks[i];
          auto node = store_block(store, b);
          if (!node)
            return wrap(node.error(), who + ", block " + b.name);
          node->output = checked->output_specs[i];
          m.nodes.push_back(std::move(*node));
        }
        sources = checked->cut.outputs;
      } else if (opts.note) {
        opts.note("kept as one block: " + describe(checked.error()));
      }
    }
    if (m.nodes.empty()) {
      auto node = split_module(store, mod);
      if (!node)
        return wrap(node.error(), who);
      node->name = "main";
      for (const auto& in : opts.inputs)
        node->inputs.push_back(in.name);
      m.nodes.push_back(std::move(*node));
      for (size_t i = 0; i < outs.size(); ++i)
        sources.push_back(outs.size() == 1 ? "main" : "main:" + std::to_string(i));
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      auto type = from_scalar_type(outs[i].scalar_type());
      if (!type)
        return wrap(type.error(), who);
      io_spec out;
      out.name = i < opts.output_names.size() ? opts.output_names[i]
                 : outs.size() == 1           ? "output"
                                              : "output" + std::to_string(i);
      out.spec = {*type, std::vector<int64_t>(outs[i].sizes().begin(), outs[i].sizes().end())};
      if (out.spec.shape.empty())
        return make_error(ec::unsupported, who + ": output " + std::to_string(i) + " has no batch dimension");
      out.spec.shape[0] = dynamic_dim;
      out.source = sources.at(i);
      m.outputs.push_back(std::move(out));
    }
  } catch (const std::exception& e) {
    return make_error(ec::backend_error, who + ": " + torch_message(e));
  }
  if (auto err = store.add_model(m))
    return err;
  return m;
}

caf::expected<model_manifest> import_torchscript_dag(const store::block_store& store,
                                                     const std::string& folder) {
  auto dag_path = folder + "/dag.json";
  if (!std::filesystem::exists(dag_path))
    return make_error(ec::invalid_argument,
                      folder + " has no dag.json: a folder of stages needs one that names the "
                               "model, its inputs and outputs, and each stage's file and inputs "
                               "(the format: `tessera import --help`, docs/model-format.md)");
  std::string text;
  if (auto err = store::read_whole_file(dag_path, text))
    return err;
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return make_error(ec::bad_manifest, dag_path + ": not valid JSON: " + json_message(e));
  }
  model_manifest m;
  auto name = field<std::string>(doc, dag_path, "name", "the model's name");
  if (!name)
    return name.error();
  m.name = *name;
  if (auto err = store::check_model_name(m.name))
    return wrap(err, dag_path);
  if (doc.is_object() && doc.contains("version")) {
    auto version = field<uint32_t>(doc, dag_path, "version", "a positive integer");
    if (!version)
      return version.error();
    m.version = *version;
  }
  m.description = doc.is_object() && doc.contains("description") && doc["description"].is_string()
                      ? doc["description"].get<std::string>()
                      : "imported from " + folder;
  if (doc.is_object() && doc.contains("family")) {
    auto family = field<std::string>(doc, dag_path, "family", "a string, such as \"resnet\"");
    if (!family)
      return family.error();
    m.family = *family;
  }
  for (const char* list : {"inputs", "outputs", "stages"})
    if (auto arr = field<nlohmann::json>(doc, dag_path, list, "an array"); !arr || !arr->is_array())
      return arr ? make_error(ec::bad_manifest, dag_path + ": \"" + list + "\" must be an array")
                 : arr.error();
  for (size_t i = 0; i < doc["inputs"].size(); ++i) {
    auto io = parse_io(doc["inputs"][i], dag_path + ": inputs[" + std::to_string(i) + "]", false);
    if (!io)
      return io.error();
    m.inputs.push_back(*io);
  }
  for (size_t i = 0; i < doc["outputs"].size(); ++i) {
    auto io = parse_io(doc["outputs"][i], dag_path + ": outputs[" + std::to_string(i) + "]", true);
    if (!io)
      return io.error();
    m.outputs.push_back(*io);
  }
  std::vector<staged> stages;
  const auto& listed = doc["stages"];
  for (size_t i = 0; i < listed.size(); ++i) {
    staged st;
    st.where = dag_path + ": stages[" + std::to_string(i) + "]";
    auto stage_name = field<std::string>(listed[i], st.where, "name", "the stage's name");
    auto file =
        field<std::string>(listed[i], st.where, "file", "its TorchScript file, in the folder");
    auto inputs = field<std::vector<std::string>>(listed[i], st.where, "inputs",
                                                  "an array of model input names and stage names");
    for (const auto* e : {stage_name ? nullptr : &stage_name.error(),
                          file ? nullptr : &file.error(), inputs ? nullptr : &inputs.error()})
      if (e != nullptr)
        return *e;
    st.where += " \"" + *stage_name + "\"";
    st.node.name = *stage_name;
    st.node.inputs = *inputs;
    auto path = folder + "/" + *file;
    if (!std::filesystem::is_regular_file(path))
      return make_error(ec::invalid_argument,
                        st.where + ": its file \"" + *file + "\" is not in " + folder);
    try {
      st.module = torch::jit::load(path, at::kCPU);
    } catch (const std::exception& e) {
      return make_error(ec::backend_error, st.where + ": " + path +
                                               " is not a TorchScript file torch::jit::load "
                                               "can read: " +
                                               torch_message(e));
    }
    st.module.eval();
    stages.push_back(std::move(st));
  }
  // A sample run checks the DAG before anything is stored.
  std::map<std::string, at::Tensor> values;
  if (auto err = check_stages(m, stages, values))
    return err;
  for (auto& st : stages) {
    // A stage is stored as a script skeleton where it converts and gives the
    // same bytes: fine-tunes' identical stages then share whole blocks (their
    // archives differ by class names alone) and compile once.
    auto canonical = as_script_block(st, values);
    auto node = canonical ? store_block(store, *canonical) : split_module(store, st.module);
    if (!node)
      return wrap(node.error(), st.where);
    node->name = st.node.name;
    node->inputs = st.node.inputs;
    node->output = st.node.output;
    m.nodes.push_back(std::move(*node));
  }
  if (auto err = store.add_model(m))
    return err;
  return m;
}

} // namespace tessera::torch_backend
