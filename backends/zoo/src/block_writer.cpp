#include "tessera/zoo/block_writer.hpp"

#include <utility>

namespace tessera::zoo {

namespace {

std::string pair_list(int64_t v) {
  auto s = std::to_string(v);
  return "[" + s + ", " + s + "]";
}

} // namespace

block_writer::block_writer(std::vector<std::string> inputs) : inputs_(std::move(inputs)) {
  // nop
}

void block_writer::conv(const std::string& out, const std::string& in,
                        const std::string& prefix, int64_t out_channels,
                        int64_t in_channels, int64_t kernel, int64_t stride,
                        int64_t padding, bool depthwise, bool with_bias) {
  auto weight = prefix + "_weight";
  param(weight, {out_channels, depthwise ? 1 : in_channels, kernel, kernel},
        init_kind::fan_in_uniform);
  std::string bias = "None";
  if (with_bias) {
    bias = prefix + "_bias";
    param(bias, {out_channels}, init_kind::bias);
  }
  auto groups = depthwise ? weight + ".size(0)" : std::string{"1"};
  line(out + " = torch.conv2d(" + in + ", " + weight + ", " + bias + ", "
       + pair_list(stride) + ", " + pair_list(padding) + ", [1, 1], " + groups + ")");
}

void block_writer::batch_norm(const std::string& out, const std::string& in,
                              const std::string& prefix, int64_t channels) {
  param(prefix + "_weight", {channels}, init_kind::bn_weight);
  param(prefix + "_bias", {channels}, init_kind::bn_bias);
  param(prefix + "_running_mean", {channels}, init_kind::bn_mean);
  param(prefix + "_running_var", {channels}, init_kind::bn_var);
  line(out + " = torch.batch_norm(" + in + ", " + prefix + "_weight, " + prefix + "_bias, "
       + prefix + "_running_mean, " + prefix + "_running_var, False, 0.1, 1e-05, False)");
}

void block_writer::linear(const std::string& out, const std::string& in,
                          const std::string& prefix, int64_t out_features,
                          int64_t in_features) {
  param(prefix + "_weight", {out_features, in_features}, init_kind::fan_in_uniform);
  param(prefix + "_bias", {out_features}, init_kind::bias);
  line(out + " = torch.linear(" + in + ", " + prefix + "_weight, " + prefix + "_bias)");
}

void block_writer::layer_norm(const std::string& out, const std::string& in,
                              const std::string& prefix, int64_t features) {
  param(prefix + "_weight", {features}, init_kind::ln_weight);
  param(prefix + "_bias", {features}, init_kind::ln_bias);
  line(out + " = torch.layer_norm(" + in + ", [" + in + ".size(-1)], " + prefix
       + "_weight, " + prefix + "_bias, 1e-06)");
}

void block_writer::param(const std::string& name, std::vector<int64_t> shape,
                         init_kind init) {
  params_.push_back(param_plan{name, std::move(shape), init});
}

void block_writer::line(const std::string& code) {
  body_.push_back(code);
}

void block_writer::concat(const std::string& out, const std::vector<std::string>& parts) {
  std::string list;
  for (const auto& p : parts)
    list += (list.empty() ? "" : ", ") + p;
  line(out + " = torch.cat([" + list + "], 1)");
}

std::string block_writer::arg(size_t i) const {
  return inputs_.size() == 1 ? std::string{"x"} : "x" + std::to_string(i);
}

block_plan block_writer::finish(const std::string& name, std::vector<int64_t> output_shape,
                                std::string module) const {
  std::string script = "def forward(";
  bool first = true;
  auto add_arg = [&](const std::string& n) {
    script += (first ? "" : ", ") + n + ": Tensor";
    first = false;
  };
  for (size_t i = 0; i < inputs_.size(); ++i)
    add_arg(arg(i));
  for (const auto& p : params_)
    add_arg(p.name);
  script += ") -> Tensor:\n";
  for (const auto& code : body_)
    script += "    " + code + "\n";
  if (module.empty())
    module = name;
  return block_plan{name,    std::move(module), std::move(script),
                    inputs_, params_,           std::move(output_shape)};
}

} // namespace tessera::zoo
