// The "incoherent" artifact format (QuIP): its decode is Uᵀ · Q · V · diag(1/s) with the
// reference's fp16 roundings, computed through the butterflies (checked against the dense
// matrices); the sandwich product matches its dense form; a tampered artifact is refused naming
// the dataset; a linear 14336 wide decodes without forming any 14336 x 14336 matrix.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <string>

#include "methods/common/artifact_formats.h"
#include "methods/common/incoherent_format.h"
#include "methods/common/seeded_stream.h"
#include "methods/quip.h"
#include "tests/support/expect_error.h"

namespace lowbit {
namespace {

QuantizedLinear random_linear(int64_t out, int64_t in, int bits) {
  at::manual_seed(5);
  const auto [u, v] = quip_transforms(7, 2, "mlp.down_proj", out, in);
  const at::Tensor codes = at::randint(0, 1 << bits, {out, in}, at::kByte);
  const at::Tensor sigma = at::full({1}, 0.05, at::kFloat);
  const at::Tensor rescale = at::rand({in}, at::kFloat) + 0.5;
  return incoherent_linear(codes, sigma, rescale, u, v, bits, "test");
}

TEST(IncoherentFormat, DecodesAsTheDenseTransformsWithTheReferencesRoundings) {
  const int bits = 3;
  const QuantizedLinear q = random_linear(96, 384, bits);
  const at::Tensor U = butterfly_dense(incoherent_transform(q, 'u')), V = butterfly_dense(incoherent_transform(q, 'v'));
  const at::Tensor Q = (((q.tensors.at("codes").to(at::kFloat) / 7.0) * 2 - 1) * 0.05f).to(at::kHalf);
  const at::Tensor back = U.t().matmul(Q.to(at::kDouble)).matmul(V).to(at::kFloat).to(at::kHalf);
  const at::Tensor expected = (back.to(at::kFloat) / q.tensors.at("rescale").unsqueeze(0)).to(at::kHalf).to(at::kFloat);
  // Float64 products in another order: an fp16 rounding may fall the other way, nothing more.
  EXPECT_LE((q.weight - expected).abs().gt(0).sum().item<int64_t>(), 2);
  EXPECT_LT((q.weight - expected).norm().item<double>() / expected.norm().item<double>(), 1e-5);
  EXPECT_TRUE(at::equal(q.weight, q.weight.to(at::kHalf).to(at::kFloat)));  // fp16 values
  EXPECT_NEAR(q.bits_per_weight, bits + (16.0 + 16.0 * 384 + 64.0) / (96.0 * 384), 1e-12);
  EXPECT_EQ(artifact_widths(q), (std::map<int, double>{{bits, 1.0}}));
}

TEST(IncoherentFormat, SandwichEqualsTheDenseProducts) {
  SeededStream s(1, 0, "x");
  const Butterfly a = make_butterfly(96, s), b = make_butterfly(14, s);
  const at::Tensor x = at::randn({96, 14}, at::kDouble);
  const at::Tensor A = butterfly_dense(a), B = butterfly_dense(b);
  EXPECT_LT((butterfly_sandwich(a, x, b, false) - A.matmul(x).matmul(B.t())).abs().max().item<double>(), 1e-12);
  EXPECT_LT((butterfly_sandwich(a, x, b, true) - A.t().matmul(x).matmul(B)).abs().max().item<double>(), 1e-12);
}

TEST(IncoherentFormat, TamperedArtifactsAreRefusedNamingTheDataset) {
  const QuantizedLinear good = random_linear(96, 384, 2);
  auto refused = [&](const std::string& name, const at::Tensor& t, const std::vector<std::string>& words) {
    QuantizedLinear q = good;
    q.tensors[name] = t;
    q.weight = at::Tensor();
    EXPECT_LOWBIT_ERROR(finish_artifact(q, "FILE: /blocks/3/mlp.down_proj"), (words));
  };
  at::Tensor codes = good.tensors.at("codes").clone();
  codes[0][0] = 4;
  refused("codes", codes, {"FILE: /blocks/3/mlp.down_proj", "codes exceed 3"});
  at::Tensor perm = good.tensors.at("v.perm_in").clone();
  perm[0] = perm[1];
  refused("v.perm_in", perm, {"v.perm_in", "not permutations"});
  at::Tensor blocks = good.tensors.at("u.blocks2").clone();
  blocks[0][0][0] += 1e-3;
  refused("u.blocks2", blocks, {"u.blocks2", "not orthogonal"});
  refused("u.blocks1", good.tensors.at("u.blocks1").narrow(0, 0, 1), {"u.blocks1", "needs ["});
  refused("sigma", at::zeros({1}), {"sigma and rescale must be finite and positive"});
}

long peak_rss_kb() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return r.ru_maxrss;
}

// V over 14336 inputs (down_proj's width): a dense V would be 14336² float64 = 1.64 GB. The whole
// decode -- checks, float64 products, fp16 roundings -- stays far below that.
TEST(IncoherentFormat, DecodingA14336WideLinearFormsNoDenseTransform) {
  const int64_t out = 64, in = 14336;
  const auto [u, v] = quip_transforms(0, 0, "mlp.down_proj", out, in);
  const at::Tensor codes = at::randint(0, 4, {out, in}, at::kByte), rescale = at::ones({in});
  const long before = peak_rss_kb();
  const QuantizedLinear q = incoherent_linear(codes, at::full({1}, 0.1f), rescale, u, v, 2, "test");
  const double grown_mb = (peak_rss_kb() - before) / 1024.0, dense_mb = in * in * 8.0 / (1 << 20);
  std::printf("decode of [%ld, %ld]: peak memory grew by %.0f MB (a dense V: %.0f MB)\n", static_cast<long>(out),
              static_cast<long>(in), grown_mb, dense_mb);
  EXPECT_LT(grown_mb, dense_mb / 4);
  EXPECT_EQ(q.weight.sizes(), at::IntArrayRef({out, in}));
}

}  // namespace
}  // namespace lowbit
