// DB-LLM's FDB (methods/common/dual_binary, methods/db_llm) against a plain PyTorch transcription of
// docs/methods/db-llm.md (make_db_llm_cases.py) on block 0 of the small model: the initial α1, α2
// and planes identical; the initial weights equal to 2-bit RTN on the same grid (nearest rounding to
// the four levels, every weight); the straight-through reconstruction loss and every gradient (latent
// weights and α of all seven linears) equal to torch.autograd's to 1e-6.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"
#include "framework/model/safetensors.h"
#include "methods/common/dual_binary.h"
#include "methods/common/uniform_quantizer.h"
#include "methods/db_llm.h"
#include "methods/method.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

constexpr int64_t kGroup = 128;

double relative(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

class DbLlmVsPython : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = std::make_unique<SafetensorsFile>(test::reference_dir() + "/db_llm/cases.safetensors");
    LoadOptions o;
    o.first_block = 0;
    o.end_block = 1;
    o.embedding = o.head = false;
    model_ = load_llama(test::tiny_model_dir(), o);
  }
  const BlockWeights& block() const { return model_.blocks[0]; }
  at::Tensor expected(const std::string& key) const { return test::case_tensor(*cases_, key); }

  std::unique_ptr<SafetensorsFile> cases_;
  LlamaWeights model_;
};

TEST_F(DbLlmVsPython, InitialScalesAndPlanesAreTheTranscriptionsAndRtnsNearestLevels) {
  const FdbBlockState s = fdb_initial_state(block(), kGroup);
  UniformQuantSpec rtn;
  rtn.bits = 2;
  rtn.group_size = kGroup;
  for (const BlockLinear& l : block_linears()) {
    const std::string m = l.module;
    EXPECT_TRUE(at::equal(s.alpha.at(m), expected("alpha." + m))) << m << ": initial alpha differs";
    const at::Tensor planes = fdb_assign(s.weight.at(m), s.alpha.at(m), kGroup);
    EXPECT_TRUE(at::equal(planes, expected("planes." + m))) << m << ": initial planes differ";
    // Nearest rounding to the four levels = RTN's 2-bit weight on the same grid, on every weight.
    const at::Tensor decoded = fdb_decode(planes, s.alpha.at(m), kGroup);
    EXPECT_TRUE(at::equal(decoded, fake_quantize(block().*l.weight, rtn))) << m << ": not lowbit's RTN W2";
    EXPECT_TRUE(at::equal(decoded, expected("rtn." + m))) << m << ": not the transcription's RTN W2";
    // Every combination of planes occurs (the z = 0..3 grids all appear on real weights).
    const at::Tensor code = planes[0].to(at::kLong) * 2 + planes[1].to(at::kLong);
    EXPECT_EQ(at::bincount(code.flatten(), {}, 4).gt(0).sum().item<int64_t>(), 4) << m;
  }
}

TEST_F(DbLlmVsPython, StraightThroughLossAndGradientsMatchAutograd) {
  FdbBlockState s = fdb_initial_state(block(), kGroup);
  for (auto& [name, t] : s.weight) t.requires_grad_(true);
  for (auto& [name, t] : s.alpha) t.requires_grad_(true);
  const at::Tensor x = expected("x"), y = expected("y");
  const RopeTables rope = rope_tables(model_.config, x.size(1), at::kFloat);
  const at::Tensor loss = fdb_block_loss(block(), s, model_.config, x, y, rope, kGroup);
  loss.backward();
  const double loss_rel = relative(loss.detach().reshape({1}), expected("loss"));
  std::printf("loss %.8g, relative difference %.2e\n", loss.item<double>(), loss_rel);
  EXPECT_LE(loss_rel, 1e-6);
  for (const BlockLinear& l : block_linears()) {
    const std::string m = l.module;
    const double w = relative(s.weight.at(m).grad(), expected("grad.weight." + m));
    const double a = relative(s.alpha.at(m).grad(), expected("grad.alpha." + m));
    std::printf("%-18s gradient relative difference: weight %.2e, alpha %.2e\n", m.c_str(), w, a);
    EXPECT_LE(w, 1e-6) << m;
    EXPECT_LE(a, 1e-6) << m;
  }
}

// Stage 1's training itself (AdamW against torch.optim.AdamW, 2 epochs, one sequence per step):
// the trained planes (the decisions) identical, the trained scales and the epoch losses to 1e-5.
TEST_F(DbLlmVsPython, TrainedPlanesAndScalesMatchTheTranscriptionsTraining) {
  FdbBlockState s = fdb_initial_state(block(), kGroup);
  const at::Tensor x = expected("x"), y = expected("y");
  const RopeTables rope = rope_tables(model_.config, x.size(1), at::kFloat);
  DbLlmOptions o;
  o.group_size = kGroup;
  o.epochs = 2;
  const auto [first, last] = fdb_train_block(block(), s, model_.config, x, y, rope, o, 1);
  const at::Tensor losses = expected("trained.losses");
  std::printf("epoch losses %.8g -> %.8g (transcription %.8g -> %.8g)\n", first, last, losses[0].item<double>(),
              losses[1].item<double>());
  EXPECT_NEAR(first, losses[0].item<double>(), 1e-5 * losses[0].item<double>());
  EXPECT_NEAR(last, losses[1].item<double>(), 1e-5 * losses[1].item<double>());
  EXPECT_LT(last, first);
  for (const BlockLinear& l : block_linears()) {
    const std::string m = l.module;
    const at::Tensor a = s.alpha.at(m).detach();
    const at::Tensor planes = fdb_assign(s.weight.at(m).detach(), a, kGroup);
    const at::Tensor want = expected("trained.planes." + m);
    const double same = planes.eq(want).to(at::kDouble).mean().item<double>();
    const double rel = relative(a, expected("trained.alpha." + m));
    std::printf("%-18s trained planes identical %.6f, alpha relative difference %.2e\n", m.c_str(), same, rel);
    EXPECT_TRUE(at::equal(planes, want)) << m << ": trained planes differ";
    EXPECT_LE(rel, 1e-5) << m;
    // Training moved decisions: the planes are no longer RTN's.
    EXPECT_FALSE(at::equal(planes, expected("planes." + m))) << m;
  }
}

}  // namespace
}  // namespace lowbit
