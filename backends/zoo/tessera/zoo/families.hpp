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

/// ResNet-18: stem, eight BasicBlocks (layer1_0 ... layer4_1), head.
architecture resnet18_architecture(double scale, int64_t classes);

/// MobileNetV2: stem, seventeen inverted residual blocks (block1 ... block17),
/// last_conv, head.
architecture mobilenetv2_architecture(double scale, int64_t classes);

/// ViT-Tiny/16: embed (patches, class token, positions), encoder0 ... encoder11, head.
architecture vit_tiny_architecture(double scale, int64_t classes);

/// What the zoo needs to know about a family to build its five variants.
struct family_info {
  std::string family;    ///< "resnet"
  std::string base_name; ///< "resnet18"; variants are "<family>-cars" and so on
  std::string title;     ///< "ResNet-18", for descriptions
  /// Blocks the fine-tune variant retrains (early, middle, late), head excluded.
  std::vector<std::string> finetuned_blocks;
  architecture (*make)(double scale, int64_t classes);
};

/// The families in zoo order: resnet, mobilenet, vit.
const std::vector<family_info>& family_infos();

} // namespace tessera::zoo
