#include "tessera/zoo/layer_slices.hpp"

#include "tessera/zoo/families.hpp"

#include <algorithm>

namespace tessera::zoo {

std::vector<int64_t> output_slices(int64_t out_channels, int64_t params, int64_t max_params) {
  max_params = std::max<int64_t>(max_params, 1);
  int64_t count = 1;
  // Each slice holds its share of the parameters; the widest one decides.
  auto widest = [&](int64_t n) { return (out_channels + n - 1) / n; };
  auto per_channel = static_cast<double>(params) / static_cast<double>(out_channels);
  while (count < out_channels &&
         per_channel * static_cast<double>(widest(count)) > static_cast<double>(max_params))
    ++count;
  std::vector<int64_t> widths(static_cast<size_t>(count), out_channels / count);
  for (int64_t i = 0; i < out_channels % count; ++i)
    ++widths[static_cast<size_t>(i)];
  return widths;
}

std::vector<std::string> add_leading_slices(architecture& arch, const std::string& name,
                                            const std::string& module, const std::string& input,
                                            const std::vector<int64_t>& channels,
                                            const std::vector<int64_t>& shape,
                                            const slice_body& body) {
  std::vector<std::string> names;
  for (size_t i = 0; i + 1 < channels.size(); ++i) {
    block_writer w{{input}};
    body(w, w.arg(0), channels[i]);
    w.line("return y");
    auto slice_shape = shape;
    slice_shape[1] = channels[i];
    names.push_back(name + "_s" + std::to_string(i));
    arch.push_back(w.finish(names.back(), std::move(slice_shape), module));
  }
  return names;
}

void finish_slices(block_writer& w, const std::string& in, size_t first_slice_input,
                   const std::vector<int64_t>& channels, const slice_body& body) {
  body(w, in, channels.back());
  if (channels.size() == 1)
    return;
  std::vector<std::string> parts;
  for (size_t i = 0; i + 1 < channels.size(); ++i)
    parts.push_back(w.arg(first_slice_input + i));
  parts.push_back("y");
  w.concat("y", parts);
}

void add_sliced_layer(architecture& arch, const std::string& name, const std::string& module,
                      const std::string& input, const std::vector<int64_t>& channels,
                      const std::vector<int64_t>& shape, const slice_body& body) {
  auto inputs = add_leading_slices(arch, name, module, input, channels, shape, body);
  inputs.insert(inputs.begin(), input);
  block_writer w{inputs};
  finish_slices(w, w.arg(0), 1, channels, body);
  w.line("return y");
  arch.push_back(w.finish(name, shape, module));
}

void add_pooled_classifier(architecture& arch, int64_t features, int64_t classes,
                           int64_t max_params) {
  auto input = arch.back().name;
  slice_body body = [features](block_writer& w, const std::string& in, int64_t channels) {
    w.line("y = torch.flatten(torch.adaptive_avg_pool2d(" + in + ", [1, 1]), 1)");
    w.linear("y", "y", "fc", channels, features);
  };
  auto slices = output_slices(classes, classes * (features + 1), max_params);
  add_sliced_layer(arch, zoo_head_node, zoo_head_node, input, slices, {-1, classes}, body);
}

} // namespace tessera::zoo
