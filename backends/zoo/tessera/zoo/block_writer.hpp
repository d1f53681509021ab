// Writes one block's TorchScript skeleton and parameter list together, so the
// argument names in `def forward(...)` always equal the parameter binding names.
// Families describe a block as a few calls (conv, batch_norm, linear, line).
#pragma once

#include "tessera/zoo/block_plan.hpp"

#include <string>
#include <vector>

namespace tessera::zoo {

class block_writer {
public:
  /// A block reading `inputs` (model input or node names); in the skeleton they
  /// are the arguments `x` (one input) or `x0`, `x1`, ... (several).
  explicit block_writer(std::vector<std::string> inputs);

  /// `out = conv2d(in, <prefix>_weight, None or <prefix>_bias, ...)`. A depthwise
  /// conv takes its groups from the weight, so the skeleton holds no channel count.
  void conv(const std::string& out, const std::string& in, const std::string& prefix,
            int64_t out_channels, int64_t in_channels, int64_t kernel, int64_t stride,
            int64_t padding, bool depthwise = false, bool with_bias = false);

  /// `out = batch_norm(in, ...)` in inference mode, eps 1e-5.
  void batch_norm(const std::string& out, const std::string& in, const std::string& prefix,
                  int64_t channels);

  /// `out = linear(in, <prefix>_weight, <prefix>_bias)`.
  void linear(const std::string& out, const std::string& in, const std::string& prefix,
              int64_t out_features, int64_t in_features);

  /// `out = layer_norm(in, [in.size(-1)], ...)`, eps 1e-6.
  void layer_norm(const std::string& out, const std::string& in, const std::string& prefix,
                  int64_t features);

  /// A parameter used by hand-written lines.
  void param(const std::string& name, std::vector<int64_t> shape, init_kind init);

  /// One statement of the body, without indentation.
  void line(const std::string& code);

  /// `out = torch.cat([parts...], 1)`: joins slices of a layer's output channels.
  void concat(const std::string& out, const std::vector<std::string>& parts);

  /// The skeleton argument that carries input `i`: `x` or `x<i>`.
  std::string arg(size_t i) const;

  /// The finished block; the body must end with a `return` line. `module`
  /// defaults to the block's own name (a module in one block).
  block_plan finish(const std::string& name, std::vector<int64_t> output_shape,
                    std::string module = {}) const;

private:
  std::vector<std::string> inputs_;
  std::vector<param_plan> params_;
  std::vector<std::string> body_;
};

} // namespace tessera::zoo
