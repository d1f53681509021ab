// ViT-Tiny/16 (Dosovitskiy et al., 2021; DeiT-Ti widths) for 224x224 input:
// 196 patches plus a class token, 12 pre-LN encoder layers with 3 heads,
// 5.7M parameters at scale 1. Every encoder layer is under the block limit at
// any scale; a head above it becomes a LayerNorm block and a cut classifier.
#include "tessera/zoo/block_writer.hpp"
#include "tessera/zoo/families.hpp"
#include "tessera/zoo/layer_slices.hpp"

namespace tessera::zoo {

namespace {

constexpr int64_t heads = 3;
constexpr int64_t patch = 16;
constexpr int64_t tokens = (224 / patch) * (224 / patch) + 1;

block_plan embed_block(int64_t dim) {
  block_writer w{{zoo_input_name}};
  w.conv("y", "x", "patch", dim, 3, patch, patch, 0, false, true);
  w.param("cls_token", {1, 1, dim}, init_kind::embedding);
  w.param("pos_embed", {1, tokens, dim}, init_kind::embedding);
  w.line("y = torch.flatten(y, 2).transpose(1, 2)");
  w.line("cls = cls_token.expand([y.size(0), -1, -1])");
  w.line("return torch.cat([cls, y], 1) + pos_embed");
  return w.finish("embed", {-1, tokens, dim});
}

// Multi-head self-attention and an MLP, each behind a LayerNorm and a residual.
block_plan encoder_block(const std::string& name, const std::string& input, int64_t dim,
                         int64_t mlp) {
  auto h = std::to_string(heads);
  block_writer w{{input}};
  w.line("b = x.size(0)");
  w.line("n = x.size(1)");
  w.line("d = x.size(2)");
  w.layer_norm("h", "x", "ln1", dim);
  w.linear("qkv", "h", "qkv", 3 * dim, dim);
  w.line("qkv = qkv.reshape([b, n, 3, " + h + ", d // " + h + "]).permute([2, 0, 3, 1, 4])");
  w.line("q = qkv.select(0, 0)");
  w.line("k = qkv.select(0, 1)");
  w.line("v = qkv.select(0, 2)");
  w.line("scores = torch.matmul(q, k.transpose(-2, -1)) * (float(q.size(-1)) ** -0.5)");
  w.line("a = torch.matmul(torch.softmax(scores, -1), v)");
  w.line("a = a.transpose(1, 2).reshape([b, n, d])");
  w.linear("a", "a", "proj", dim, dim);
  w.line("x = x + a");
  w.layer_norm("h", "x", "ln2", dim);
  w.linear("h", "h", "fc1", mlp, dim);
  w.line("h = torch.gelu(h)");
  w.linear("h", "h", "fc2", dim, mlp);
  w.line("return x + h");
  return w.finish(name, {-1, tokens, dim});
}

} // namespace

architecture vit_tiny_architecture(double scale, int64_t classes, int64_t max_block_params) {
  // Heads stay 3, so the width is a multiple of heads * 8 (head dim a multiple of 8).
  int64_t dim = scaled_width(192, scale, heads * 8);
  int64_t mlp = 4 * dim;
  architecture arch;
  arch.push_back(embed_block(dim));
  for (int i = 0; i < 12; ++i)
    arch.push_back(encoder_block("encoder" + std::to_string(i), arch.back().name, dim, mlp));
  slice_body classifier = [dim](block_writer& w, const std::string& in, int64_t channels) {
    w.linear("y", in, "fc", channels, dim);
  };
  auto fc_params = classes * (dim + 1);
  if (fc_params + 2 * dim <= max_block_params) {
    block_writer head{{arch.back().name}};
    head.line("y = x.select(1, 0)");
    head.layer_norm("y", "y", "norm", dim);
    classifier(head, "y", classes);
    head.line("return y");
    arch.push_back(head.finish(zoo_head_node, {-1, classes}));
    return arch;
  }
  block_writer norm{{arch.back().name}};
  norm.line("y = x.select(1, 0)");
  norm.layer_norm("y", "y", "norm", dim);
  norm.line("return y");
  arch.push_back(norm.finish("head_norm", {-1, dim}, zoo_head_node));
  add_sliced_layer(arch, zoo_head_node, zoo_head_node, "head_norm",
                   output_slices(classes, fc_params, max_block_params), {-1, classes}, classifier);
  return arch;
}

} // namespace tessera::zoo
