// The zoo's three architectures (ResNet-18, MobileNetV2, ViT-Tiny) as block
// plans, and what each family's variants change. Widths follow `scale`; the
// input is always float32 [-1, 3, 224, 224] and the last block is the head.
#pragma once

#include "tessera/zoo/block_plan.hpp"

#include <string>
#include <vector>

namespace tessera::zoo {

/// The name of the model input every zoo architecture reads.
constexpr const char* zoo_input_name = "image";

/// The name of the head block, which the head and fine-tune variants replace.
constexpr const char* zoo_head_node = "head";

// `max_block_params` limits the parameters of one block: a module above it is
// cut into several blocks (its layers, and layers by output channels), the
// last of which keeps the module's name. The zoo sets it from the family's
// smallest model (zoo_block_limit); without a limit every module is one block.

/// ResNet-18: stem, eight BasicBlocks (layer1_0 ... layer4_1), head.
architecture resnet18_architecture(double scale, int64_t classes,
                                   int64_t max_block_params = unlimited_block_params);

/// MobileNetV2: stem, seventeen inverted residual blocks (block1 ... block17),
/// last_conv, head.
architecture mobilenetv2_architecture(double scale, int64_t classes,
                                      int64_t max_block_params = unlimited_block_params);

/// ViT-Tiny/16: embed (patches, class token, positions), encoder0 ... encoder11, head.
architecture vit_tiny_architecture(double scale, int64_t classes,
                                   int64_t max_block_params = unlimited_block_params);

/// What the zoo needs to know about a family to build its five variants.
struct family_info {
  std::string family;    ///< "resnet"
  std::string base_name; ///< "resnet18"; variants are "<family>-cars" and so on
  std::string title;     ///< "ResNet-18", for descriptions
  /// Modules the fine-tune variant retrains (early, middle, late), head excluded.
  std::vector<std::string> finetuned_modules;
  architecture (*make)(double scale, int64_t classes, int64_t max_block_params);
};

/// The families in zoo order: resnet, mobilenet, vit.
const std::vector<family_info>& family_infos();

/// Percent of the family's smallest model that one block may hold at most: under
/// 1/5, the smallest budget a model must stream in (docs/swapping.md), with a
/// margin so that a model's budget also holds a little of the next block.
constexpr int64_t zoo_block_limit_percent = 18;

/// The block limit of a family at `scale`: zoo_block_limit_percent of its
/// smallest variant (the one with the fewest classes), so every variant cuts
/// its backbone the same way and its blocks stay shared.
int64_t zoo_block_limit(const family_info& family, double scale);

} // namespace tessera::zoo
