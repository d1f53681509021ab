// ResNet-18 (He et al., 2016) for 224x224 input: 11.7M parameters at scale 1.
// A BasicBlock above the block limit becomes a block per conv (the shortcut
// rides with the second), and a conv above it is cut by output channels.
#include "tessera/zoo/block_writer.hpp"
#include "tessera/zoo/families.hpp"
#include "tessera/zoo/layer_slices.hpp"

namespace tessera::zoo {

namespace {

// Parameters of a conv without bias followed by batch norm.
int64_t conv_bn_params(int64_t out_channels, int64_t in_channels, int64_t kernel) {
  return out_channels * in_channels * kernel * kernel + 4 * out_channels;
}

block_plan stem_block(int64_t width) {
  block_writer w{{zoo_input_name}};
  w.conv("y", "x", "conv", width, 3, 7, 2, 3);
  w.batch_norm("y", "y", "bn", width);
  w.line("y = torch.relu(y)");
  w.line("return torch.max_pool2d(y, [3, 3], [2, 2], [1, 1], [1, 1], False)");
  return w.finish("stem", {-1, width, 56, 56});
}

// y + the shortcut (a 1x1 conv where the shape changes), then ReLU; `x` is the
// block's input argument.
void add_shortcut(block_writer& w, const std::string& x, int64_t in_channels, int64_t out_channels,
                  int64_t stride) {
  if (stride != 1 || in_channels != out_channels) {
    w.conv("s", x, "down_conv", out_channels, in_channels, 1, stride, 0);
    w.batch_norm("s", "s", "down_bn", out_channels);
    w.line("return torch.relu(y + s)");
  } else {
    w.line("return torch.relu(y + " + x + ")");
  }
}

// Two 3x3 convs with a shortcut, as one block when it fits `max_params`.
void add_basic_block(architecture& arch, const std::string& name, int64_t in_channels,
                     int64_t out_channels, int64_t stride, int64_t out_size, int64_t max_params) {
  auto input = arch.back().name;
  std::vector<int64_t> shape{-1, out_channels, out_size, out_size};
  slice_body conv1 = [=](block_writer& w, const std::string& in, int64_t channels) {
    w.conv("y", in, "conv1", channels, in_channels, 3, stride, 1);
    w.batch_norm("y", "y", "bn1", channels);
    w.line("y = torch.relu(y)");
  };
  slice_body conv2 = [=](block_writer& w, const std::string& in, int64_t channels) {
    w.conv("y", in, "conv2", channels, out_channels, 3, 1, 1);
    w.batch_norm("y", "y", "bn2", channels);
  };
  auto first = conv_bn_params(out_channels, in_channels, 3);
  auto second = conv_bn_params(out_channels, out_channels, 3);
  bool down = stride != 1 || in_channels != out_channels;
  auto shortcut = down ? conv_bn_params(out_channels, in_channels, 1) : 0;
  if (first + second + shortcut <= max_params) {
    block_writer w{{input}};
    conv1(w, "x", out_channels);
    conv2(w, "y", out_channels);
    add_shortcut(w, "x", in_channels, out_channels, stride);
    arch.push_back(w.finish(name, shape));
    return;
  }
  auto mid = name + "_conv1";
  add_sliced_layer(arch, mid, name, input, output_slices(out_channels, first, max_params), shape,
                   conv1);
  // The block finishing the module holds the last slice of conv2 and the shortcut.
  auto slices = output_slices(out_channels, second, max_params - shortcut);
  auto inputs = add_leading_slices(arch, name + "_conv2", name, mid, slices, shape, conv2);
  inputs.insert(inputs.begin(), mid);
  inputs.push_back(input);
  block_writer w{inputs};
  finish_slices(w, w.arg(0), 1, slices, conv2);
  add_shortcut(w, w.arg(inputs.size() - 1), in_channels, out_channels, stride);
  arch.push_back(w.finish(name, shape));
}

} // namespace

architecture resnet18_architecture(double scale, int64_t classes, int64_t max_block_params) {
  const int64_t widths[4] = {scaled_width(64, scale), scaled_width(128, scale),
                             scaled_width(256, scale), scaled_width(512, scale)};
  architecture arch;
  arch.push_back(stem_block(widths[0]));
  int64_t channels = widths[0];
  int64_t size = 56;
  for (int stage = 0; stage < 4; ++stage)
    for (int i = 0; i < 2; ++i) {
      int64_t stride = (stage > 0 && i == 0) ? 2 : 1;
      size /= stride;
      auto name = "layer" + std::to_string(stage + 1) + "_" + std::to_string(i);
      add_basic_block(arch, name, channels, widths[stage], stride, size, max_block_params);
      channels = widths[stage];
    }
  add_pooled_classifier(arch, channels, classes, max_block_params);
  return arch;
}

} // namespace tessera::zoo
