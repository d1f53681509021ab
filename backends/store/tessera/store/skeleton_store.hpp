// Block skeletons: the code of a block with its parameters left out, stored by
// content id under <store>/skeletons/<id>.<kind>. Two kinds exist:
//  - script: TorchScript source of `def forward(inputs..., params...)`, with the
//    parameters as arguments, so one compiled function serves every model that
//    shares the code;
//  - module: a TorchScript archive whose tensors were emptied on import; the
//    parameters are bound into a clone by attribute path.
#pragma once

#include "tessera/core/content_id.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tessera::store {

enum class skeleton_kind { script, module };

const char* to_string(skeleton_kind kind);

struct skeleton_source {
  content_id id;
  skeleton_kind kind = skeleton_kind::script;
  std::string bytes;
};

class skeleton_store {
public:
  explicit skeleton_store(std::string root);

  caf::expected<content_id> put(skeleton_kind kind, std::string_view bytes) const;

  /// Reads and re-hashes a skeleton; a mismatch is ec::corrupt_blob.
  caf::expected<skeleton_source> get(const content_id& id) const;

  bool contains(const content_id& id) const;

  /// Every skeleton id on disk, in no particular order.
  std::vector<content_id> list() const;

  /// Deletes a skeleton's file (store gc).
  caf::error remove(const content_id& id) const;

private:
  std::string path_of(const content_id& id, skeleton_kind kind) const;

  std::string root_;
};

} // namespace tessera::store
