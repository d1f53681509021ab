// The architecture of a zoo model as plain data: each block's TorchScript
// skeleton, its parameter shapes and how their values are drawn. The families
// (resnet, mobilenet, vit) produce it; model_writer turns it into blobs and a manifest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::zoo {

/// How a parameter's values are drawn. Every kind is a uniform range, so the
/// bounds are exact and outputs stay finite through the whole network.
enum class init_kind {
  fan_in_uniform, ///< U(-b, b), b = sqrt(6 / fan_in): conv and linear weights
  bias,           ///< U(-0.01, 0.01)
  bn_weight,      ///< U(0.9, 1.1)
  bn_bias,        ///< U(-0.1, 0.1)
  bn_mean,        ///< U(-0.1, 0.1)
  bn_var,         ///< U(0.9, 1.1)
  ln_weight,      ///< U(0.95, 1.05)
  ln_bias,        ///< U(-0.02, 0.02)
  embedding,      ///< U(-0.035, 0.035), about the spread of N(0, 0.02)
};

/// One parameter: its skeleton argument name, shape and value distribution.
struct param_plan {
  std::string name;
  std::vector<int64_t> shape;
  init_kind init = init_kind::fan_in_uniform;
};

/// One block (node) of a model before any values exist.
struct block_plan {
  std::string name;
  /// The network module (layer, residual block, head) the block computes all
  /// or part of: a module too large for one block is cut into several
  /// (layer_slices.hpp), and variants change modules, never parts of one.
  std::string module;
  /// TorchScript source of `def forward(inputs..., params...) -> Tensor`.
  std::string script;
  /// Model input or node names feeding the block, in argument order.
  std::vector<std::string> inputs;
  std::vector<param_plan> params;
  /// Output shape with -1 for the batch dimension (dtype is always float32).
  std::vector<int64_t> output_shape;
};

/// The blocks of a model in execution order; the classifier head is last.
using architecture = std::vector<block_plan>;

/// `base * scale` rounded to the nearest multiple of `multiple`, at least `multiple`.
int64_t scaled_width(int64_t base, double scale, int64_t multiple = 8);

/// Product of every dimension but the first (inputs feeding one output unit).
int64_t fan_in_of(const std::vector<int64_t>& shape);

/// Number of scalar parameters (running statistics included).
int64_t parameter_count(const architecture& arch);

/// Parameters of one block.
int64_t parameter_count(const block_plan& block);

/// No limit on the parameters of one block.
constexpr int64_t unlimited_block_params = INT64_MAX;

} // namespace tessera::zoo
