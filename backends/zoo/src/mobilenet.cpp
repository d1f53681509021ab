// MobileNetV2 (Sandler et al., 2018) for 224x224 input: 3.5M parameters at scale 1.
#include "tessera/zoo/block_writer.hpp"
#include "tessera/zoo/families.hpp"

namespace tessera::zoo {

namespace {

constexpr const char* relu6 = "y = torch.clamp(y, 0.0, 6.0)";

// Expansion (1x1, skipped when t = 1), depthwise 3x3, linear projection (1x1);
// the residual is added when the block keeps stride 1 and its channel count.
block_plan inverted_residual(const std::string& name, const std::string& input,
                             int64_t in_channels, int64_t out_channels, int64_t stride,
                             int64_t expansion, int64_t out_size) {
  block_writer w{{input}};
  int64_t hidden = in_channels * expansion;
  std::string src = "x";
  if (expansion != 1) {
    w.conv("y", "x", "expand_conv", hidden, in_channels, 1, 1, 0);
    w.batch_norm("y", "y", "expand_bn", hidden);
    w.line(relu6);
    src = "y";
  }
  w.conv("y", src, "dw_conv", hidden, hidden, 3, stride, 1, true);
  w.batch_norm("y", "y", "dw_bn", hidden);
  w.line(relu6);
  w.conv("y", "y", "project_conv", out_channels, hidden, 1, 1, 0);
  w.batch_norm("y", "y", "project_bn", out_channels);
  w.line(stride == 1 && in_channels == out_channels ? "return y + x" : "return y");
  return w.finish(name, {-1, out_channels, out_size, out_size});
}

struct stage_setting {
  int64_t expansion;
  int64_t channels;
  int repeats;
  int64_t stride;
};

} // namespace

architecture mobilenetv2_architecture(double scale, int64_t classes) {
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
      arch.push_back(inverted_residual("block" + std::to_string(index++), arch.back().name,
                                       channels, out_channels, stride, s.expansion, size));
      channels = out_channels;
    }
  int64_t last = scaled_width(1280, scale);
  {
    block_writer w{{arch.back().name}};
    w.conv("y", "x", "conv", last, channels, 1, 1, 0);
    w.batch_norm("y", "y", "bn", last);
    w.line(relu6);
    w.line("return y");
    arch.push_back(w.finish("last_conv", {-1, last, size, size}));
  }
  block_writer head{{arch.back().name}};
  head.line("y = torch.flatten(torch.adaptive_avg_pool2d(x, [1, 1]), 1)");
  head.linear("y", "y", "fc", classes, last);
  head.line("return y");
  arch.push_back(head.finish(zoo_head_node, {-1, classes}));
  return arch;
}

} // namespace tessera::zoo
