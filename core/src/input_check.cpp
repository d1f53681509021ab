#include "tessera/core/input_check.hpp"

#include "tessera/core/error.hpp"

namespace tessera {

caf::error check_model_inputs(const model_manifest& m,
                              const std::vector<tensor_buffer>& inputs) {
  auto who = "model \"" + m.name + "\": ";
  if (inputs.size() != m.inputs.size())
    return make_error(ec::missing_input, who + "expects " + std::to_string(m.inputs.size())
                                           + " input(s), got " + std::to_string(inputs.size()));
  int64_t batch = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& want = m.inputs[i];
    const auto& got = inputs[i];
    auto where = who + "input \"" + want.name + "\": ";
    if (got.spec.type != want.spec.type)
      return make_error(ec::dtype_mismatch, where + "expected " + to_string(want.spec.type)
                                              + ", got " + to_string(got.spec.type));
    if (!got.spec.concrete() || !want.spec.accepts(got.spec))
      return make_error(ec::shape_mismatch, where + "expected " + shape_to_string(want.spec.shape)
                                              + ", got " + shape_to_string(got.spec.shape));
    if (got.spec.shape[0] == 0)
      return make_error(ec::shape_mismatch, where + "batch size must be at least 1");
    if (batch >= 0 && got.spec.shape[0] != batch)
      return make_error(ec::shape_mismatch, where + "batch size " + std::to_string(got.spec.shape[0])
                                              + " differs from the first input's " + std::to_string(batch));
    batch = got.spec.shape[0];
    if (got.bytes != got.spec.bytes() || (got.data == nullptr && got.bytes > 0))
      return make_error(ec::invalid_argument, where + "holds " + std::to_string(got.bytes)
                                                + " bytes, its shape needs " + std::to_string(got.spec.bytes()));
  }
  return {};
}

} // namespace tessera
