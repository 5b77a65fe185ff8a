// methods/quip against a plain PyTorch transcription of the reference's preproc, quantize_weight_vecbal
// (qfn 'b'), round_ldl_block and postproc (make_quip_cases.py), fed the same W, H and butterflies:
// codes, σ and the rescale vector identical, the fake-quant weight within 1e-5 (relative). The
// butterflies are lowbit's draws (export_quip_transforms), checked here to be those of their
// (seed, block, module); the cases: a
// random linear (an outlier weight, an outlier and a dead input) at 2/3/4 bits, with greedy passes,
// with a lazy batch that does not divide the columns, and on two linears of the small model.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "framework/model/safetensors.h"
#include "methods/quip.h"
#include "tests/reference/quip_transform_sets.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

Butterfly case_butterfly(const SafetensorsFile& f, const std::string& key) {
  Butterfly b;
  b.perm_in = test::case_tensor(f, key + ".perm_in");
  b.perm_out = test::case_tensor(f, key + ".perm_out");
  b.blocks = {test::case_tensor(f, key + ".blocks1"), test::case_tensor(f, key + ".blocks2")};
  b.n = b.perm_in.size(0);
  b.factors = {b.blocks[0].size(1), b.blocks[1].size(1)};
  return b;
}

void expect_case(const SafetensorsFile& f, const std::string& key, const std::string& set) {
  // The case ran on lowbit's draw for the set's (seed, block, module).
  const test::QuipTransformSet* s = nullptr;
  for (const test::QuipTransformSet& t : test::quip_transform_sets()) s = t.name == set ? &t : s;
  ASSERT_NE(s, nullptr) << set;
  const auto [u, v] = quip_transforms(s->seed, s->block, s->module, s->out, s->in);
  for (const auto& [which, b] : {std::pair<std::string, const Butterfly*>{"u", &u}, {"v", &v}}) {
    const Butterfly c = case_butterfly(f, key + "." + which);
    EXPECT_TRUE(at::equal(c.perm_in, b->perm_in) && at::equal(c.perm_out, b->perm_out) &&
                at::equal(c.blocks[0], b->blocks[0]) && at::equal(c.blocks[1], b->blocks[1]))
        << key << ": " << which << " is not lowbit's draw for " << set;
  }
  QuipOptions o;
  o.bits = static_cast<int>(test::case_tensor(f, key + ".bits").item<int64_t>());
  o.npasses = static_cast<int>(test::case_tensor(f, key + ".npasses").item<int64_t>());
  o.blocksize = test::case_tensor(f, key + ".blocksize").item<int64_t>();
  const QuantizedLinear q = quip_quantize_linear(test::case_tensor(f, key + ".W"), test::case_tensor(f, key + ".H"),
                                                 case_butterfly(f, key + ".u"), case_butterfly(f, key + ".v"), o, key);
  const at::Tensor codes = test::case_tensor(f, key + ".codes");
  EXPECT_TRUE(at::equal(q.tensors.at("codes"), codes))
      << key << ": " << q.tensors.at("codes").ne(codes).sum().item<int64_t>() << " codes differ";
  EXPECT_TRUE(at::equal(q.tensors.at("sigma"), test::case_tensor(f, key + ".sigma"))) << key << ": sigma differs";
  EXPECT_TRUE(at::equal(q.tensors.at("rescale"), test::case_tensor(f, key + ".rescale"))) << key << ": rescale differs";
  const at::Tensor expected = test::case_tensor(f, key + ".weight");
  const double rel = (q.weight - expected).norm().item<double>() / expected.norm().item<double>();
  EXPECT_LE(rel, 1e-5) << key;
  // The codes use the whole grid (a quantizer stuck at one level would match a stuck transcription).
  EXPECT_EQ(std::get<0>(at::_unique(codes)).size(0), 1 << o.bits) << key;
  std::printf("%s: %d bits, npasses %d, %.4f bits per weight, weight difference %.3g\n", key.c_str(), o.bits,
              o.npasses, q.bits_per_weight, rel);
}

TEST(QuipVsPython, CodesScalesAndWeightsMatchThePlainImplementation) {
  const SafetensorsFile f(test::reference_dir() + "/quip/cases.safetensors");
  for (const std::string key : {"b2", "b3", "b4", "b2_greedy", "b3_block100"}) expect_case(f, key, "random");
}

TEST(QuipVsPython, SmallModelLinearsMatchThePlainImplementation) {
  const SafetensorsFile f(test::reference_dir() + "/quip/cases.safetensors");
  for (const std::string key : {"tiny.q_proj", "tiny.down_proj"}) expect_case(f, key, key);
}

}  // namespace
}  // namespace lowbit
