// DB-LLM stage 2's pieces on a small random model, against ATen's own autograd and by construction:
// the student's decode (an autograd function of its own) gives the logits and α gradients of the same
// student written with plain differentiable ops; the losses' masks and bounds; the scales file's round
// trip and refusals.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "framework/model/llama_forward.h"
#include "framework/model/safetensors_writer.h"
#include "framework/train/distillation_loss.h"
#include "framework/train/dual_binary_student.h"
#include "methods/common/dual_binary.h"
#include "methods/method.h"
#include "tests/support/expect_error.h"
#include "tests/support/small_llama_config.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kGroup = 16;

LlamaConfig small_config() { return test::small_llama_config(); }

// Random planes and FDB-initialized α for every linear of `w`.
std::vector<QuantizedBlock> random_blocks(const LlamaWeights& w) {
  at::manual_seed(5);
  std::vector<QuantizedBlock> blocks;
  for (const BlockWeights& b : w.blocks) {
    QuantizedBlock q;
    for (const BlockLinear& l : block_linears()) {
      const at::Tensor weight = b.*l.weight;
      const at::Tensor alpha = fdb_initial_alpha(weight, kGroup);
      const at::Tensor planes = at::randint(0, 2, {2, weight.size(0), weight.size(1)}).to(at::kByte);
      q.linears.emplace(l.module, dual_binary_linear(planes, alpha, kGroup, l.module));
    }
    blocks.push_back(std::move(q));
  }
  return blocks;
}

TEST(DualBinaryStudent, LogitsAndScaleGradientsEqualPlainAutogradOfTheSameStudent) {
  const LlamaWeights teacher = init_llama(small_config(), 1, 0.2);
  const std::vector<QuantizedBlock> blocks = random_blocks(teacher);
  const DualBinaryStudent student(teacher, [&](int64_t b) { return blocks[static_cast<std::size_t>(b)]; }, "test");
  const at::Tensor ids = at::randint(0, 50, {2, 12});
  const at::Tensor t = forward(teacher, ids);
  const std::vector<Parameter> params = student.parameters();
  for (const Parameter& p : params) p.value.requires_grad_(true);
  const at::Tensor s = student.logits(ids);
  distillation_loss(t.reshape({-1, 50}), s.reshape({-1, 50}), at::ones({24}, at::kBool), DistillationLoss::Dad).backward();

  // The same student with α·b written as differentiable ATen ops on float planes.
  LlamaWeights plain = teacher;
  std::vector<at::Tensor> alphas;
  for (std::size_t b = 0; b < blocks.size(); ++b)
    for (const BlockLinear& l : block_linears()) {
      const QuantizedLinear& q = blocks[b].linears.at(l.module);
      at::Tensor a = q.tensors.at("alpha").detach().clone().requires_grad_(true);
      alphas.push_back(a);
      const at::Tensor planes = q.tensors.at("planes").to(at::kFloat);
      const int64_t out = planes.size(1), in = planes.size(2);
      plain.blocks[b].*l.weight = (a[0].repeat_interleave(kGroup, 1) * planes[0] + a[1].repeat_interleave(kGroup, 1) * planes[1])
                                      .reshape({out, in});
    }
  const at::Tensor s_plain = head(plain, blocks_forward(plain, embed(plain, ids)));  // forward() has no autograd
  distillation_loss(t.reshape({-1, 50}), s_plain.reshape({-1, 50}), at::ones({24}, at::kBool), DistillationLoss::Dad)
      .backward();
  EXPECT_LE((s - s_plain).abs().max().item<double>(), 1e-5 * s_plain.abs().max().item<double>());
  ASSERT_EQ(params.size(), alphas.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    ASSERT_TRUE(params[i].value.grad().defined()) << params[i].name;
    const double scale = alphas[i].grad().abs().max().item<double>();
    EXPECT_GT(scale, 0) << params[i].name;
    EXPECT_LE((params[i].value.grad() - alphas[i].grad()).abs().max().item<double>(), 1e-5 * scale) << params[i].name;
    EXPECT_DOUBLE_EQ(params[i].lr_scale, blocks[i / 7].linears.at(block_linears()[i % 7].module).weight.pow(2).mean().sqrt().item<double>());
  }
}

TEST(DistillationLoss, MaskedTokensDoNotCountAndIdenticalPredictionsCostNothing) {
  at::manual_seed(2);
  const at::Tensor t = at::randn({5, 30}), s = at::randn({5, 30});
  const at::Tensor mask = at::tensor({1, 1, 0, 1, 0}).to(at::kBool);
  for (const DistillationLoss kind : {DistillationLoss::Kl, DistillationLoss::Dad}) {
    const DistillationTerms terms = distillation_terms(t, s, kind);
    const double want = (terms.weight * terms.kl).index({mask}).mean().item<double>();
    EXPECT_NEAR(distillation_loss(t, s, mask, kind).item<double>(), want, 1e-6);
    EXPECT_NEAR(distillation_loss(t, t, mask, kind).item<double>(), 0, 1e-6);
    EXPECT_TRUE(terms.weight.ge(0).all().item<bool>() && terms.weight.le(1).all().item<bool>());
  }
  // DAD's weight is the product of the two normalized entropies: a uniform teacher and student weigh 1.
  const at::Tensor flat = at::zeros({1, 30});
  EXPECT_NEAR(distillation_terms(flat, flat, DistillationLoss::Dad).weight.item<double>(), 1.0, 1e-6);
  EXPECT_LOWBIT_ERROR(parse_distillation_loss("mse", "d.yaml: key 'loss'"), {"d.yaml", "loss", "mse"});
}

TEST(DualBinaryStudent, ScalesFileRoundTripsAndRefusesWhatIsNotItsOwn) {
  const LlamaWeights teacher = init_llama(small_config(), 1, 0.2);
  const std::vector<QuantizedBlock> blocks = random_blocks(teacher);
  DualBinaryStudent student(teacher, [&](int64_t b) { return blocks[static_cast<std::size_t>(b)]; }, "test");
  const fs::path dir = fs::temp_directory_path() / "lowbit-test-distill";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const Parameter& p : student.parameters()) p.value.detach().mul_(1.5);
  student.save_scales((dir / "scales.safetensors").string());
  DualBinaryStudent other(teacher, [&](int64_t b) { return blocks[static_cast<std::size_t>(b)]; }, "test");
  other.load_scales((dir / "scales.safetensors").string());
  for (std::size_t i = 0; i < other.parameters().size(); ++i)
    EXPECT_TRUE(at::equal(other.parameters()[i].value, student.parameters()[i].value));
  // Evaluation puts them into the run's blocks.
  QuantizedBlock q = blocks[1];
  apply_trained_scales((dir / "scales.safetensors").string(), 1, q);
  EXPECT_TRUE(at::equal(q.linears.at("mlp.up_proj").tensors.at("alpha"), student.parameters()[7 + 5].value));
  EXPECT_TRUE(at::equal(q.linears.at("mlp.up_proj").weight,
                        fdb_decode(q.linears.at("mlp.up_proj").tensors.at("planes"), q.linears.at("mlp.up_proj").tensors.at("alpha"), kGroup)));
  // A file with one scale of another shape, or a non-finite one.
  const at::Tensor bad = at::full({2, 3}, 1.0f);
  write_safetensors((dir / "bad.safetensors").string(), {{dual_binary_scale_name(0, "self_attn.q_proj"), DType::F32, {2, 3}, bad.data_ptr()}});
  QuantizedBlock q_proj;
  q_proj.linears.emplace("self_attn.q_proj", blocks[0].linears.at("self_attn.q_proj"));
  EXPECT_LOWBIT_ERROR(apply_trained_scales((dir / "bad.safetensors").string(), 0, q_proj),
                      {"bad.safetensors", "self_attn.q_proj", "shape"});
  EXPECT_LOWBIT_ERROR(other.load_scales((dir / "bad.safetensors").string()), {"bad.safetensors", "tensors"});
  QuantizedBlock uniform;
  QuantizedLinear u;
  u.format = "uniform";
  uniform.linears.emplace("self_attn.q_proj", u);
  EXPECT_LOWBIT_ERROR(apply_trained_scales((dir / "scales.safetensors").string(), 0, uniform), {"scales.safetensors", "uniform"});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lowbit
