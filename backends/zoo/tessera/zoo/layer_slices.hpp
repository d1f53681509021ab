// A layer too large for one block, cut along its output channels. Each slice is
// the layer's computation for a range of output channels, with its own weights
// and batch-norm statistics, so the cut layer computes what the whole one would;
// the block that finishes the layer concatenates the slices. docs/model-zoo.md.
#pragma once

#include "tessera/zoo/block_plan.hpp"
#include "tessera/zoo/block_writer.hpp"

#include <functional>
#include <string>
#include <vector>

namespace tessera::zoo {

/// Output channels of each slice when a layer of `out_channels` outputs and
/// `params` parameters (spread evenly over its outputs) is cut so that no
/// slice holds more than `max_params`: as few slices as that takes, of equal
/// widths (the first ones one wider where they do not divide evenly), at most
/// one per channel. {out_channels} when the whole layer fits.
std::vector<int64_t> output_slices(int64_t out_channels, int64_t params, int64_t max_params);

/// Writes the statements that compute `channels` output channels of a layer
/// from the skeleton argument `in` into `y`.
using slice_body = std::function<void(block_writer& w, const std::string& in, int64_t channels)>;

/// Adds one block per slice but the last, named `<name>_s<i>`, reading `input`
/// and returning its slice. `shape` is the layer's output shape; its dimension
/// 1 (channels) becomes the slice's. Returns the names of the added blocks: the
/// block finishing the layer reads them (finish_slices).
std::vector<std::string> add_leading_slices(architecture& arch, const std::string& name,
                                            const std::string& module, const std::string& input,
                                            const std::vector<int64_t>& channels,
                                            const std::vector<int64_t>& shape,
                                            const slice_body& body);

/// In the block finishing a layer: writes the last slice from `in` into `y`
/// and joins the leading slices, which are the block's inputs from
/// `first_slice_input` on, in front of it.
void finish_slices(block_writer& w, const std::string& in, size_t first_slice_input,
                   const std::vector<int64_t>& channels, const slice_body& body);

/// A whole layer as blocks: its leading slices and a block `name` that reads
/// `input` and them, and returns the layer's output.
void add_sliced_layer(architecture& arch, const std::string& name, const std::string& module,
                      const std::string& input, const std::vector<int64_t>& channels,
                      const std::vector<int64_t>& shape, const slice_body& body);

/// Average pooling and a linear classifier over `features` channels, its
/// classes cut into slices of at most `max_params`: the `head` of ResNet and
/// MobileNetV2.
void add_pooled_classifier(architecture& arch, int64_t features, int64_t classes,
                           int64_t max_params);

} // namespace tessera::zoo
