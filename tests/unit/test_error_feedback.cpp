// methods/common/error_feedback: the GPTQ family's shared column loop with a pluggable quantizer.
// GPTQ's own exactness tests (tests/reference/test_gptq_vs_python.cpp) run its device route through
// it; these check what GPTQ does not use: an identity quantizer leaves W as it is, and without
// intra-block updates a column sees its block's values as the lazy updates left them (BiLLM).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "methods/common/error_feedback.h"

namespace lowbit {
namespace {

// Rounds to a 0.25 grid and records what each column looked like when it was quantized.
class RecordingQuantizer : public ColumnQuantizer {
 public:
  void quantize_column(const at::Tensor& w, int64_t c, at::Tensor& out) override {
    seen.push_back(w.clone());
    if (identity) {
      out.copy_(w);
    } else {
      at::mul_out(out, w, 4.0).round_().div_(4.0);
    }
  }
  void prepare(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor& u) override { U = u; }
  std::vector<at::Tensor> seen;
  at::Tensor U;
  bool identity = false;
};

struct Problem {
  at::Tensor W, H;
};
Problem problem() {
  at::manual_seed(3);
  const at::Tensor x = at::randn({256, 8});
  return {at::randn({5, 8}), 2.0 / 4 * x.t().matmul(x)};
}

TEST(ErrorFeedback, IdentityQuantizerLeavesTheWeightsAsTheyAre) {
  const Problem p = problem();
  RecordingQuantizer q;
  q.identity = true;
  ErrorFeedbackOptions o;
  o.block_size = 3;
  const ErrorFeedbackResult r = error_feedback_solve(p.W, p.H, q, o);
  EXPECT_TRUE(at::equal(r.weight, p.W));
  EXPECT_EQ(r.losses.abs().max().item<float>(), 0.0f);
  EXPECT_EQ(q.seen.size(), 8u);
}

TEST(ErrorFeedback, WithoutIntraBlockUpdatesAColumnSeesOnlyTheLazyUpdates) {
  const Problem p = problem();
  RecordingQuantizer q;
  ErrorFeedbackOptions o;
  o.block_size = 4;
  o.intra_block_updates = false;
  const ErrorFeedbackResult r = error_feedback_solve(p.W, p.H, q, o);
  ASSERT_EQ(q.seen.size(), 8u);
  for (int c = 0; c < 4; ++c) EXPECT_TRUE(at::equal(q.seen[c], p.W.select(1, c))) << "column " << c;
  // Block 2 sees W[:, 4:] - Err · U[0:4, 4:], Err the first block's scaled errors.
  const at::Tensor first = at::stack({q.seen[0], q.seen[1], q.seen[2], q.seen[3]}, 1);  // [5, 4]
  const at::Tensor err = (first - r.weight.narrow(1, 0, 4)) / q.U.diagonal().narrow(0, 0, 4);
  const at::Tensor expected = p.W.narrow(1, 4, 4) - err.matmul(q.U.narrow(0, 0, 4).narrow(1, 4, 4));
  for (int c = 4; c < 8; ++c)
    EXPECT_TRUE(at::allclose(q.seen[c], expected.select(1, c - 4), 1e-6, 1e-6)) << "column " << c;
  // With the updates on, the second column of a block differs from its starting value.
  RecordingQuantizer with;
  o.intra_block_updates = true;
  error_feedback_solve(p.W, p.H, with, o);
  EXPECT_FALSE(at::equal(with.seen[1], p.W.select(1, 1)));
}

}  // namespace
}  // namespace lowbit
