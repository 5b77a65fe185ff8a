// Writes the QuIP transforms lowbit draws for the reference cases (make_quip_cases.py reads them, so
// the plain transcription runs on lowbit's own U and V): per set, quip_transforms(seed, block,
// module, out, in) as "<set>.u.perm_in" / ".perm_out" (i64) / ".blocks1" / ".blocks2" (f64) and the
// same for ".v.", with the key in "<set>.key" (i64 [seed, block, out, in]) and the module in the
// metadata. Usage: export_quip_transforms OUT.safetensors
#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "framework/model/safetensors_writer.h"
#include "methods/quip.h"
#include "tests/reference/quip_transform_sets.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: export_quip_transforms OUT.safetensors\n");
    return 2;
  }
  std::vector<at::Tensor> keep;
  std::vector<lowbit::TensorToWrite> out;
  std::map<std::string, std::string> metadata;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    keep.push_back(t.contiguous());
    const at::Tensor& k = keep.back();
    out.push_back({name, k.scalar_type() == at::kLong ? lowbit::DType::I64 : lowbit::DType::F64,
                   std::vector<int64_t>(k.sizes().begin(), k.sizes().end()), k.data_ptr()});
  };
  for (const lowbit::test::QuipTransformSet& s : lowbit::test::quip_transform_sets()) {
    const auto [u, v] = lowbit::quip_transforms(s.seed, s.block, s.module, s.out, s.in);
    for (const auto& [which, b] : {std::pair<const char*, const lowbit::Butterfly*>{"u", &u}, {"v", &v}}) {
      const std::string p = s.name + "." + which + ".";
      add(p + "perm_in", b->perm_in);
      add(p + "perm_out", b->perm_out);
      add(p + "blocks1", b->blocks[0]);
      add(p + "blocks2", b->blocks[1]);
    }
    add(s.name + ".key", at::tensor(std::vector<int64_t>{static_cast<int64_t>(s.seed), s.block, s.out, s.in}));
    metadata[s.name + ".module"] = s.module;
  }
  const std::filesystem::path path(argv[1]);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  lowbit::write_safetensors(path.string(), out, metadata);
  std::printf("%zu transform sets\n", lowbit::test::quip_transform_sets().size());
  return 0;
}
