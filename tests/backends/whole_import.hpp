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

/// Saves zoo model `zoo_name` as one TorchScript file and imports it as `as`.
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
  std::string note;
  opts.note = [&](const std::string& n) { note = n; };
  auto out = torch_backend::import_torchscript_file(*zoo.store, f.path, opts);
  REQUIRE_MESSAGE(out, why(out));
  CHECK_MESSAGE(note.empty(), note);
  f.model = std::move(*out);
  return f;
}

} // namespace tessera::test
