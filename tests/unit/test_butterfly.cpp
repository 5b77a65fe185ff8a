// methods/common/butterfly and seeded_stream (QuIP's transforms, issue 16's first step): the factor
// split QuIP's butterfly_factors gives; every transform orthogonal and its blocks special
// orthogonal; the structured product equal to the dense matrix's, transposed too; a transform a
// function of (seed, block, module) alone; the stream's normals and permutations what they claim.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <vector>

#include "methods/common/butterfly.h"
#include "methods/common/seeded_stream.h"

namespace lowbit {
namespace {

// The prime factors in ascending order, even- and odd-indexed products: 4096 = 2^12 -> 2^6 · 2^6;
// 14336 = 2^11 · 7 -> 2^6 · (2^5 · 7); 768 = 2^8 · 3 -> (2^4 · 3) · 2^4; 14 = 2 · 7; 1024 = 2^10.
TEST(Butterfly, FactorsSplitThePrimeFactorsAlternately) {
  EXPECT_EQ(butterfly_factors(4096), (std::array<int64_t, 2>{64, 64}));
  EXPECT_EQ(butterfly_factors(14336), (std::array<int64_t, 2>{64, 224}));
  EXPECT_EQ(butterfly_factors(1024), (std::array<int64_t, 2>{32, 32}));
  EXPECT_EQ(butterfly_factors(768), (std::array<int64_t, 2>{48, 16}));
  EXPECT_EQ(butterfly_factors(14), (std::array<int64_t, 2>{2, 7}));
  EXPECT_EQ(butterfly_factors(13), (std::array<int64_t, 2>{13, 1}));
  EXPECT_EQ(butterfly_factors(1), (std::array<int64_t, 2>{1, 1}));
}

TEST(Butterfly, IsOrthogonalWithSpecialOrthogonalBlocksAndMatchesItsDenseForm) {
  for (int64_t n : {256, 768, 14, 13}) {
    SeededStream s(0, 3, "self_attn.q_proj");
    const Butterfly b = make_butterfly(n, s);
    const at::Tensor B = butterfly_dense(b);  // [n, n] float64
    const double off = (B.t().matmul(B) - at::eye(n, at::kDouble)).abs().max().item<double>();
    EXPECT_LT(off, 1e-12) << n;
    for (const at::Tensor& blocks : b.blocks)
      for (int64_t k = 0; k < blocks.size(0); ++k)
        EXPECT_NEAR(at::linalg_det(blocks[k]).item<double>(), 1.0, 1e-9) << n << " block " << k;
    const at::Tensor x = at::randn({n, 5});
    const at::Tensor Bf = B.to(at::kFloat);
    EXPECT_LT((butterfly_apply(b, x) - Bf.matmul(x)).abs().max().item<double>(), 1e-5) << n;
    EXPECT_LT((butterfly_apply(b, x, true) - Bf.t().matmul(x)).abs().max().item<double>(), 1e-5) << n;
    EXPECT_TRUE(butterfly_apply(b, x).dtype() == at::kFloat);
  }
}

TEST(Butterfly, IsAFunctionOfSeedBlockAndModuleAlone) {
  auto draw = [](uint64_t seed, int64_t block, const char* name) {
    SeededStream s(seed, block, name);
    return butterfly_dense(make_butterfly(768, s));
  };
  const at::Tensor a = draw(0, 5, "mlp.down_proj");
  EXPECT_TRUE(at::equal(a, draw(0, 5, "mlp.down_proj")));
  EXPECT_FALSE(at::equal(a, draw(1, 5, "mlp.down_proj")));
  EXPECT_FALSE(at::equal(a, draw(0, 6, "mlp.down_proj")));
  EXPECT_FALSE(at::equal(a, draw(0, 5, "mlp.up_proj")));
}

TEST(SeededStream, NormalsPermutationsAndRotationsAreWhatTheyClaim) {
  SeededStream s(7, 0, "test");
  const int n = 200000;
  double sum = 0, sq = 0;
  for (int i = 0; i < n; ++i) {
    const double z = s.normal();
    sum += z;
    sq += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 0.01);
  std::vector<int64_t> p = s.permutation(1000);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(p, iota);
  // Haar on SO(3): the trace's mean is 0 (E[tr Q] = 0 for p >= 3), far from the identity's 3.
  double trace = 0;
  for (int i = 0; i < 4000; ++i) trace += random_special_orthogonal(3, s).trace().item<double>();
  EXPECT_NEAR(trace / 4000, 0.0, 0.06);
}

}  // namespace
}  // namespace lowbit
