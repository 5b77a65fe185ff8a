// methods/common/butterfly's structured product against a plain transcription of QuIP's
// mul_ortho_butterfly (make_butterfly_cases.py): the same factors (blocks and permutations drawn
// by the script) give the same dense matrix, and the factor split is QuIP's butterfly_factors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "framework/model/safetensors.h"
#include "methods/common/butterfly.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

TEST(ButterflyVsPython, StructuredProductIsQuipsDenseButterfly) {
  const SafetensorsFile f(test::reference_dir() + "/butterfly/cases.safetensors");
  for (int64_t n : {768, 256, 14, 13}) {
    const std::string key = "n" + std::to_string(n);
    Butterfly b;
    b.n = n;
    const at::Tensor factors = test::case_tensor(f, key + ".factors");
    b.factors = {factors[0].item<int64_t>(), factors[1].item<int64_t>()};
    EXPECT_EQ(b.factors, butterfly_factors(n)) << key;
    b.blocks = {test::case_tensor(f, key + ".block0"), test::case_tensor(f, key + ".block1")};
    b.perm_in = test::case_tensor(f, key + ".perm_in");
    b.perm_out = test::case_tensor(f, key + ".perm_out");
    const at::Tensor expected = test::case_tensor(f, key + ".dense");
    EXPECT_LT((butterfly_dense(b) - expected).abs().max().item<double>(), 1e-12) << key;
    // Bᵀ applied to x equals the transpose of the reference's matrix applied to x.
    const at::Tensor x = at::randn({n, 3}, at::kDouble);
    EXPECT_LT((butterfly_apply(b, x, true) - expected.t().matmul(x)).abs().max().item<double>(), 1e-12) << key;
  }
}

}  // namespace
}  // namespace lowbit
