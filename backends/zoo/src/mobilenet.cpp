// MobileNetV2 (Sandler et al., 2018) for 224x224 input: 3.5M parameters at scale 1.
// An inverted residual above the block limit becomes an expansion block and a
// depthwise + projection block; `last_conv` and the classifier are cut by
// output channels where they exceed it.
#include "tessera/zoo/block_writer.hpp"
#include "tessera/zoo/families.hpp"
#include "tessera/zoo/layer_slices.hpp"

namespace tessera::zoo {

namespace {

constexpr const char* relu6 = "y = torch.clamp(y, 0.0, 6.0)";

// Parameters of a conv without bias followed by batch norm.
int64_t conv_bn_params(int64_t out_channels, int64_t in_per_group, int64_t kernel) {
  return out_channels * in_per_group * kernel * kernel + 4 * out_channels;
}

struct residual_plan {
  std::string name;
  int64_t in_channels;
  int64_t out_channels;
  int64_t stride;
  int64_t expansion;
  int64_t out_size;
};

// Expansion (1x1, skipped when t = 1), depthwise 3x3, linear projection (1x1);
// the residual is added when the block keeps stride 1 and its channel count.
void add_inverted_residual(architecture& arch, const residual_plan& r, int64_t max_params) {
  auto input = arch.back().name;
  int64_t hidden = r.in_channels * r.expansion;
  bool residual = r.stride == 1 && r.in_channels == r.out_channels;
  slice_body expand = [&](block_writer& w, const std::string& in, int64_t channels) {
    w.conv("y", in, "expand_conv", channels, r.in_channels, 1, 1, 0);
    w.batch_norm("y", "y", "expand_bn", channels);
    w.line(relu6);
  };
  slice_body project = [&](block_writer& w, const std::string& in, int64_t channels) {
    w.conv("y", in, "dw_conv", hidden, hidden, 3, r.stride, 1, true);
    w.batch_norm("y", "y", "dw_bn", hidden);
    w.line(relu6);
    w.conv("y", "y", "project_conv", channels, hidden, 1, 1, 0);
    w.batch_norm("y", "y", "project_bn", channels);
  };
  auto expand_params = r.expansion != 1 ? conv_bn_params(hidden, r.in_channels, 1) : 0;
  auto project_params = conv_bn_params(hidden, 1, 3) + conv_bn_params(r.out_channels, hidden, 1);
  std::string src = input;
  if (expand_params + project_params > max_params && r.expansion != 1) {
    src = r.name + "_expand";
    auto in_size = r.out_size * r.stride;
    add_sliced_layer(arch, src, r.name, input, output_slices(hidden, expand_params, max_params),
                     {-1, hidden, in_size, in_size}, expand);
    expand_params = 0;
  }
  std::vector<std::string> inputs{src};
  if (residual && src != input)
    inputs.push_back(input);
  block_writer w{inputs};
  auto x = w.arg(0);
  if (expand_params > 0) {
    expand(w, x, hidden);
    x = "y";
  }
  project(w, x, r.out_channels);
  w.line(residual ? "return y + " + w.arg(inputs.size() - 1) : std::string{"return y"});
  arch.push_back(w.finish(r.name, {-1, r.out_channels, r.out_size, r.out_size}));
}

struct stage_setting {
  int64_t expansion;
  int64_t channels;
  int repeats;
  int64_t stride;
};

} // namespace

architecture mobilenetv2_architecture(double scale, int64_t classes, int64_t max_block_params) {
  static const stage_setting stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2},
                                         {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2},
                                         {6, 320, 1, 1}};
  architecture arch;
  int64_t channels = scaled_width(32, scale);
  {
    block_writer w{{zoo_input_name}};
    w.conv("y", "x", "conv", channels, 3, 3, 2, 1);
    w.batch_norm("y", "y", "bn", channels);
    w.line(relu6);
    w.line("return y");
    arch.push_back(w.finish("stem", {-1, channels, 112, 112}));
  }
  int64_t size = 112;
  int index = 1;
  for (const auto& s : stages)
    for (int i = 0; i < s.repeats; ++i) {
      int64_t stride = i == 0 ? s.stride : 1;
      int64_t out_channels = scaled_width(s.channels, scale);
      size /= stride;
      add_inverted_residual(
          arch,
          {"block" + std::to_string(index++), channels, out_channels, stride, s.expansion, size},
          max_block_params);
      channels = out_channels;
    }
  int64_t last = scaled_width(1280, scale);
  slice_body last_conv = [channels](block_writer& w, const std::string& in, int64_t width) {
    w.conv("y", in, "conv", width, channels, 1, 1, 0);
    w.batch_norm("y", "y", "bn", width);
    w.line(relu6);
  };
  add_sliced_layer(arch, "last_conv", "last_conv", arch.back().name,
                   output_slices(last, conv_bn_params(last, channels, 1), max_block_params),
                   {-1, last, size, size}, last_conv);
  add_pooled_classifier(arch, last, classes, max_block_params);
  return arch;
}

} // namespace tessera::zoo
