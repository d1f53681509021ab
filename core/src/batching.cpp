#include "tessera/core/batching.hpp"

#include "tessera/core/error.hpp"

#include <cstring>

namespace tessera {

int64_t rows_of(const tensor_buffer& t) {
  return t.spec.shape.empty() ? 0 : t.spec.shape[0];
}

namespace {

bool same_but_rows(const tensor_spec& a, const tensor_spec& b) {
  if (a.type != b.type || a.shape.size() != b.shape.size() || a.shape.empty())
    return false;
  for (size_t i = 1; i < a.shape.size(); ++i)
    if (a.shape[i] != b.shape[i])
      return false;
  return true;
}

} // namespace

bool batchable(const std::vector<tensor_buffer>& a, const std::vector<tensor_buffer>& b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same_but_rows(a[i].spec, b[i].spec))
      return false;
  return true;
}

caf::expected<tensor_buffer> concat_rows(const std::vector<tensor_buffer>& parts) {
  if (parts.empty())
    return make_error(ec::invalid_argument, "no tensors to stack");
  if (parts.size() == 1)
    return parts.front();
  tensor_spec spec = parts.front().spec;
  int64_t rows = 0;
  for (const auto& p : parts) {
    if (!same_but_rows(p.spec, spec))
      return make_error(ec::shape_mismatch, "cannot stack " + to_string(p.spec) + " onto "
                                              + to_string(spec));
    if (p.bytes != p.spec.bytes())
      return make_error(ec::invalid_argument, "a tensor's bytes do not match its shape");
    rows += rows_of(p);
  }
  spec.shape[0] = rows;
  std::byte* dst = nullptr;
  auto out = tensor_buffer::allocate(spec, &dst);
  for (const auto& p : parts) {
    std::memcpy(dst, p.data, p.bytes);
    dst += p.bytes;
  }
  return out;
}

caf::expected<std::vector<tensor_buffer>> split_rows(const tensor_buffer& whole,
                                                     const std::vector<int64_t>& rows) {
  int64_t total = 0;
  for (auto r : rows) {
    if (r < 0)
      return make_error(ec::invalid_argument, "negative row count");
    total += r;
  }
  if (whole.spec.shape.empty() || total != rows_of(whole))
    return make_error(ec::shape_mismatch, "cannot split " + to_string(whole.spec) + " into "
                                            + std::to_string(total) + " rows");
  size_t row_bytes = total == 0 ? 0 : whole.bytes / static_cast<size_t>(total);
  std::vector<tensor_buffer> out;
  size_t offset = 0;
  for (auto r : rows) {
    tensor_buffer piece;
    piece.spec = whole.spec;
    piece.spec.shape[0] = r;
    piece.bytes = row_bytes * static_cast<size_t>(r);
    piece.data = whole.data + offset;
    piece.owner = whole.owner;
    offset += piece.bytes;
    out.push_back(std::move(piece));
  }
  return out;
}

} // namespace tessera
