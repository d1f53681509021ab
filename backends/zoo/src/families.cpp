#include "tessera/zoo/families.hpp"

namespace tessera::zoo {

const std::vector<family_info>& family_infos() {
  // The fine-tuned modules sit early, in the middle and late in each network, so
  // the fine-tune variant shares modules on both sides of every changed one.
  static const std::vector<family_info> infos = {
    {"resnet", "resnet18", "ResNet-18", {"layer1_1", "layer3_0", "layer4_1"},
     &resnet18_architecture},
    {"mobilenet", "mobilenetv2", "MobileNetV2", {"block3", "block9", "block15"},
     &mobilenetv2_architecture},
    {"vit", "vit-tiny", "ViT-Tiny/16", {"encoder1", "encoder6", "encoder10"},
     &vit_tiny_architecture},
  };
  return infos;
}

} // namespace tessera::zoo
