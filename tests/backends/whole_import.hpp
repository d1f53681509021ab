// A zoo model saved as one TorchScript file (as torch.jit.script lays a model
// out) and imported again, as a user's model arrives: shared by the suites
// that check automatic blocks (auto_blocks, fusion).
#pragma once

#include "scratch_dir.hpp"
#include "tessera/torch/torchscript_files.hpp"
#include "why.hpp"
#include "zoo_fixture.hpp"

#include <doctest/doctest.h>

#include <string>

namespace tessera::test {

struct imported_file {
  std::string path;
  model_manifest model;
};

/// The default block size (4 MiB) scaled as the small zoo's bytes are: a
/// scale of 0.25 gives a sixteenth of the tensor bytes of the zoo at scale 1.
constexpr uint64_t small_zoo_block_bytes = uint64_t{256} << 10;

/// Saves zoo model `zoo_name` as one TorchScript file and imports it as `as`,
/// with automatic blocks of the size above (or one block, `blocks` 1).
inline imported_file import_whole(const scratch_dir& dir, const std::string& zoo_name,
                                  const std::string& as, uint32_t blocks = 0) {
  auto& zoo = small_zoo::get();
  const auto& m = zoo.manifest(zoo_name);
  imported_file f;
  f.path = dir.path() + "/" + as + ".pt";
  REQUIRE_FALSE(torch_backend::export_torchscript(*zoo.store, m, f.path));
  torch_backend::import_options opts;
  opts.name = as;
  opts.inputs = m.inputs;
  opts.output_names = {"logits"};
  opts.blocks = blocks;
  opts.max_block_bytes = small_zoo_block_bytes;
  std::string note;
  opts.note = [&](const std::string& n) { note = n; };
  auto out = torch_backend::import_torchscript_file(*zoo.store, f.path, opts);
  REQUIRE_MESSAGE(out, why(out));
  CHECK_MESSAGE(note.empty(), note);
  f.model = std::move(*out);
  return f;
}

} // namespace tessera::test
