// `tessera import FOLDER`: a folder of TorchScript stages and the dag.json that
// chains them (docs/model-format.md), checked by a sample run before anything
// is stored; each stage stored as a script skeleton where it converts.
#include "tessera/torch/torchscript_files.hpp"

#include "import_steps.hpp"
#include "tensor_convert.hpp"
#include "tessera/store/atomic_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

namespace tessera::torch_backend {

namespace {

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

/// One stage of a stage folder: its module, and its node as far as known.
struct staged {
  std::string where; ///< "dag.json: stages[i] \"name\"", for messages
  torch::jit::Module module;
  node_spec node;
};

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
  c10::IValue result;
  if (!run_block(b, values, result).empty())
    return std::nullopt;
  auto same = [&](const c10::IValue& v, const std::string& key) {
    auto want = values.find(key);
    return want != values.end() && v.isTensor() && bit_identical(v.toTensor(), want->second);
  };
  if (result.isTuple()) {
    const auto& elements = result.toTupleRef().elements();
    for (size_t k = 0; k < elements.size(); ++k)
      if (!same(elements[k], st.node.name + ":" + std::to_string(k)))
        return std::nullopt;
  } else if (!same(result, st.node.name)) {
    return std::nullopt;
  }
  return std::move(b);
}

} // namespace

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
