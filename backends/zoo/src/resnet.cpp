// ResNet-18 (He et al., 2016) for 224x224 input: 11.7M parameters at scale 1.
#include "tessera/zoo/block_writer.hpp"
#include "tessera/zoo/families.hpp"

namespace tessera::zoo {

namespace {

block_plan stem_block(int64_t width) {
  block_writer w{{zoo_input_name}};
  w.conv("y", "x", "conv", width, 3, 7, 2, 3);
  w.batch_norm("y", "y", "bn", width);
  w.line("y = torch.relu(y)");
  w.line("return torch.max_pool2d(y, [3, 3], [2, 2], [1, 1], [1, 1], False)");
  return w.finish("stem", {-1, width, 56, 56});
}

// Two 3x3 convs with a shortcut; the shortcut is a 1x1 conv where shape changes.
block_plan basic_block(const std::string& name, const std::string& input,
                       int64_t in_channels, int64_t out_channels, int64_t stride,
                       int64_t out_size) {
  block_writer w{{input}};
  w.conv("y", "x", "conv1", out_channels, in_channels, 3, stride, 1);
  w.batch_norm("y", "y", "bn1", out_channels);
  w.line("y = torch.relu(y)");
  w.conv("y", "y", "conv2", out_channels, out_channels, 3, 1, 1);
  w.batch_norm("y", "y", "bn2", out_channels);
  if (stride != 1 || in_channels != out_channels) {
    w.conv("s", "x", "down_conv", out_channels, in_channels, 1, stride, 0);
    w.batch_norm("s", "s", "down_bn", out_channels);
    w.line("return torch.relu(y + s)");
  } else {
    w.line("return torch.relu(y + x)");
  }
  return w.finish(name, {-1, out_channels, out_size, out_size});
}

} // namespace

architecture resnet18_architecture(double scale, int64_t classes) {
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
      arch.push_back(basic_block(name, arch.back().name, channels, widths[stage], stride, size));
      channels = widths[stage];
    }
  block_writer head{{arch.back().name}};
  head.line("y = torch.flatten(torch.adaptive_avg_pool2d(x, [1, 1]), 1)");
  head.linear("y", "y", "fc", classes, channels);
  head.line("return y");
  arch.push_back(head.finish(zoo_head_node, {-1, classes}));
  return arch;
}

} // namespace tessera::zoo
