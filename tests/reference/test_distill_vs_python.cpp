// DB-LLM's stage 2 (framework/train/distillation_loss, dual_binary_student) against a plain PyTorch
// transcription of docs/methods/db-llm.md (make_distill_cases.py): on fixed logits, the per-token
// KL, the deviation-aware weights (the product of the normalized teacher and student entropies) and
// the loss and its gradient, for DAD and for plain KL; on the whole small model with FDB-initialized
// linears, the DAD loss, every α gradient and one AdamW step at relative learning rates.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"
#include "framework/model/safetensors.h"
#include "framework/train/adamw.h"
#include "framework/train/distillation_loss.h"
#include "framework/train/dual_binary_student.h"
#include "methods/common/dual_binary.h"
#include "methods/method.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

double relative(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() /
         want.to(at::kDouble).abs().max().item<double>();
}

class DistillVsPython : public ::testing::Test {
 protected:
  void SetUp() override { cases_ = std::make_unique<SafetensorsFile>(test::reference_dir() + "/distill/cases.safetensors"); }
  at::Tensor expected(const std::string& key) const { return test::case_tensor(*cases_, key); }
  std::unique_ptr<SafetensorsFile> cases_;
};

TEST_F(DistillVsPython, KlAndDeviationAwareWeightsLossAndGradientOnFixedLogits) {
  const at::Tensor t = expected("logits.teacher"), mask = expected("mask").to(at::kBool);
  for (const DistillationLoss kind : {DistillationLoss::Kl, DistillationLoss::Dad}) {
    const std::string k = distillation_loss_name(kind);
    const at::Tensor s = expected("logits.student").requires_grad_(true);
    const DistillationTerms terms = distillation_terms(t, s, kind);
    const at::Tensor loss = distillation_loss(t, s, mask, kind);
    loss.backward();
    const double kl = relative(terms.kl.detach(), expected(k + ".kl")), w = relative(terms.weight, expected(k + ".weight"));
    const double l = relative(loss.detach().reshape({1}), expected(k + ".loss")), g = relative(s.grad(), expected(k + ".grad"));
    std::printf("%-3s: loss %.8g; relative differences: kl %.1e, weight %.1e, loss %.1e, gradient %.1e\n", k.c_str(),
                loss.item<double>(), kl, w, l, g);
    EXPECT_LE(kl, 1e-6) << k;
    EXPECT_LE(w, 1e-6) << k;
    EXPECT_LE(l, 1e-6) << k;
    EXPECT_LE(g, 1e-6) << k;
  }
  // The weights differ as the formula says: in [0, 1]; the confident teacher's token (0) weighs least,
  // the near-uniform one (1) most; so DAD's loss is not a multiple of plain KL's.
  const at::Tensor w = expected("dad.weight");
  std::printf("DAD weights: %s\n", at::str(w.unsqueeze(0)).c_str());
  EXPECT_TRUE(w.ge(0).all().item<bool>() && w.le(1).all().item<bool>());
  EXPECT_EQ(w.argmin().item<int64_t>(), 0);
  EXPECT_EQ(w.argmax().item<int64_t>(), 1);
  const at::Tensor dad = distillation_loss(t, expected("logits.student"), mask, DistillationLoss::Dad);
  const at::Tensor kl = distillation_loss(t, expected("logits.student"), mask, DistillationLoss::Kl);
  const at::Tensor ratio = expected("dad.kl") * w / expected("kl.kl");
  EXPECT_GT((ratio.max() - ratio.min()).item<double>(), 0.1) << "the weights hardly vary between tokens";
  EXPECT_NE(dad.item<double>(), kl.item<double>());
}

TEST_F(DistillVsPython, WholeModelLossAlphaGradientsAndOneAdamWStep) {
  const LlamaWeights teacher = load_llama(test::tiny_model_dir());
  const DualBinaryStudent student(
      teacher,
      [&](int64_t b) {
        QuantizedBlock q;
        for (const BlockLinear& l : block_linears()) {
          const std::string key = std::to_string(b) + "." + l.module;
          q.linears.emplace(l.module, dual_binary_linear(expected("planes." + key), expected("alpha." + key), 128, key));
        }
        return q;
      },
      "cases");
  const at::Tensor ids = expected("ids");
  std::vector<Parameter> params = student.parameters();
  OptimConfig oc;
  oc.weight_decay = 0;
  oc.beta2 = 0.999;
  AdamW optimizer(params, oc);
  const at::Tensor t = forward(teacher, ids), s = student.logits(ids);
  const int64_t v = t.size(-1);
  const at::Tensor loss = distillation_loss(t.reshape({-1, v}), s.reshape({-1, v}), at::ones({ids.numel()}, at::kBool),
                                            DistillationLoss::Dad);
  loss.backward();
  const double l = relative(loss.detach().reshape({1}), expected("model.loss"));
  std::printf("model DAD loss %.8g (relative difference %.1e)\n", loss.item<double>(), l);
  EXPECT_LE(l, 1e-5);
  double worst_grad = 0;
  for (const Parameter& p : params) {
    const std::string key = p.name.substr(std::string("model.layers.").size());  // "0.self_attn.q_proj.alpha"
    const std::string name = key.substr(0, key.size() - std::string(".alpha").size());
    worst_grad = std::max(worst_grad, relative(p.value.grad(), expected("model.grad." + name)));
    EXPECT_LE(relative(p.value.grad(), expected("model.grad." + name)), 1e-4) << p.name;
  }
  optimizer.step(1e-2);  // each α at 1e-2 × its linear's weight RMS (Parameter::lr_scale)
  double worst_step = 0;
  for (const Parameter& p : params) {
    const std::string key = p.name.substr(std::string("model.layers.").size());
    const std::string name = key.substr(0, key.size() - std::string(".alpha").size());
    const at::Tensor moved = p.value.detach() - expected("alpha." + name);
    const at::Tensor want = expected("model.stepped." + name) - expected("alpha." + name);
    worst_step = std::max(worst_step, relative(moved, want));
    EXPECT_LE(relative(moved, want), 1e-4) << p.name;
  }
  std::printf("%zu scales: largest relative difference of a gradient %.1e, of an AdamW step %.1e\n", params.size(),
              worst_grad, worst_step);
}

}  // namespace
}  // namespace lowbit
