// Block skeletons: the code of a block with its parameters left out, stored by
// content id under <store>/skeletons/<id>.<kind>. Two kinds exist:
//  - script: TorchScript source of `def forward(inputs..., params...)`, with the
//    parameters as arguments, so one compiled function serves every model that
//    shares the code;
//  - module: a TorchScript archive whose tensors were emptied on import; the
//    parameters are bound into a clone by attribute path.
// A script skeleton may have a compiled graph beside it, <id>.graph: the
// runtime's own text form of the function its source compiles to, written by
// an import that checked it, so that a process parses it rather than
// compiling the source (decision 50). The source stays what the skeleton is.
#pragma once

#include "tessera/core/content_id.hpp"

#include <caf/expected.hpp>

#include <optional>
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

  /// Deletes a skeleton's files, its graph included (store gc).
  caf::error remove(const content_id& id) const;

  /// Keeps the compiled graph of skeleton `id` for `runtime` (a runtime and
  /// version, "libtorch-1.13.1"), replacing one kept for another runtime.
  caf::error put_graph(const content_id& id, std::string_view runtime,
                       std::string_view graph) const;

  /// The compiled graph of skeleton `id` for `runtime`; none when there is
  /// none, or one for another runtime. A file whose text does not hash to
  /// what its first line says is ec::corrupt_blob.
  caf::expected<std::optional<std::string>> get_graph(const content_id& id,
                                                      std::string_view runtime) const;

private:
  std::string path_of(const content_id& id, skeleton_kind kind) const;
  std::string graph_path_of(const content_id& id) const;

  std::string root_;
};

} // namespace tessera::store
