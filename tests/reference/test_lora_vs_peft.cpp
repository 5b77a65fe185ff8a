// LoRA adapters against Hugging Face PEFT itself (make_lora_cases.py), on the small model's NF4 run:
//  - the instruction batch lowbit frames equals qlora.py's collator's (ids, labels);
//  - lowbit's QLoRA adapter, loaded by PEFT onto transformers' model (base = lowbit's dequantized
//    NF4 weights), gives the logits lowbit's merged model and its unmerged training forward give
//    (1e-4 relative); the same for IR-QLoRA's adapter with IEC, against IEC transcribed from
//    IR-QLoRA's IRQLoraLinear4bit;
//  - one training step: the loss and every adapter gradient (1e-5 relative) equal PyTorch + PEFT's
//    on the same batch, and clipping + AdamW on those gradients give PEFT's updated adapters;
//  - an adapter PEFT trained and saved itself loads in lowbit with PEFT's logits.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>

#include "evaluation/eval_model.h"
#include "framework/data/instructions.h"
#include "framework/model/llama_forward.h"
#include "framework/model/safetensors.h"
#include "framework/model/tokenizer.h"
#include "framework/train/adamw.h"
#include "framework/train/causal_lm.h"
#include "framework/train/peft_adapter.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

const SafetensorsFile& cases() {
  static const SafetensorsFile f(test::reference_dir() + "/lora/cases.safetensors");
  return f;
}
at::Tensor t(const std::string& name) { return test::case_tensor(cases(), name); }
std::string run(const std::string& name) { return test::lora_runs_dir() + "/" + name; }

// max |a − b| over max |b|, on the positions `mask` [B, T] marks (logits [B, T, V]).
double relative_error(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}
double masked_relative_error(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask) {
  return relative_error(a.index({mask}), b.index({mask}));
}

TokenBatch lowbit_batch(const LlamaConfig& c) {
  const Tokenizer tok = Tokenizer::from_file(test::tiny_model_dir() + "/tokenizer.json");
  const std::vector<InstructionExample> records = read_instructions(test::tiny_instructions_dir() + "/train.json");
  std::vector<TokenizedExample> examples;
  for (int i = 0; i < t("batch.input_ids").size(0); ++i)
    examples.push_back(tokenize_instruction(tok, records[i], static_cast<int32_t>(c.bos_token_id),
                                            static_cast<int32_t>(c.eos_token_id), 384, 128));
  std::vector<const TokenizedExample*> ptrs;
  for (const TokenizedExample& e : examples) ptrs.push_back(&e);
  return collate_instructions(ptrs, static_cast<int32_t>(c.eos_token_id));
}

LlamaWeights whole_model(const EvalTarget& target) {
  return load_eval_part(target, whole_model_plan(LlamaConfig::from_file(target.model_dir + "/config.json")));
}

// Real (unpadded) positions of the batch: [B, T] bool.
at::Tensor real_positions() {
  const at::Tensor labels = t("batch.labels");
  at::Tensor mask = at::zeros(labels.sizes(), at::kBool);
  // A position is real when it is before the example's last label (the sequence's end).
  for (int64_t i = 0; i < labels.size(0); ++i) {
    const at::Tensor labelled = labels[i].ne(-100).nonzero();
    mask[i].narrow(0, 0, labelled[-1].item<int64_t>() + 1).fill_(true);
  }
  return mask;
}

TEST(LoraVsPeft, InstructionBatchIsQloraCollatorsBatch) {
  const LlamaConfig c = LlamaConfig::from_file(test::tiny_model_dir() + "/config.json");
  const TokenBatch b = lowbit_batch(c);
  const at::Tensor ids = t("batch.input_ids"), labels = t("batch.labels");
  ASSERT_EQ(b.inputs.sizes(), ids.sizes());
  EXPECT_TRUE(at::equal(b.inputs, ids));
  // lowbit's targets are the next token's label: targets[:, j] = labels[:, j + 1], the last -100.
  const int64_t T = labels.size(1);
  EXPECT_TRUE(at::equal(b.targets.narrow(1, 0, T - 1), labels.narrow(1, 1, T - 1)));
  EXPECT_TRUE(b.targets.select(1, T - 1).eq(-100).all().item<bool>());
}

void expect_logits(const std::string& finetune_dir, const std::string& prefix) {
  const at::Tensor ids = t("batch.input_ids"), expected = t(prefix + ".logits"), mask = real_positions();
  // Evaluation's path: the adapters merged into the dequantized weights.
  const EvalTarget target = resolve_eval_target(finetune_dir);
  ASSERT_FALSE(target.adapter_dir.empty());
  const LlamaWeights merged = whole_model(target);
  EXPECT_LT(masked_relative_error(forward(merged, ids), expected, mask), 1e-4) << prefix << ", merged";
  // Training's path: the base with the adapters beside it.
  EvalTarget base = target;
  base.adapter_dir.clear();
  LlamaWeights w = whole_model(base);
  const LoraModel lora = load_peft_adapter(target.adapter_dir, w.config);
  lora.attach(w);
  EXPECT_LT(masked_relative_error(forward(w, ids), expected, mask), 1e-4) << prefix << ", unmerged";
}

TEST(LoraVsPeft, QloraAdapterLoadedByPeftGivesLowbitsLogits) { expect_logits(run("qlora"), "qlora"); }
TEST(LoraVsPeft, IrQloraAdapterWithIecGivesTheTranscribedLogits) { expect_logits(run("irqlora"), "iec"); }

void expect_one_step(const std::string& finetune_dir, const std::string& prefix) {
  const EvalTarget target = resolve_eval_target(finetune_dir);
  EvalTarget base = target;
  base.adapter_dir.clear();
  LlamaWeights w = whole_model(base);
  LoraModel lora = load_peft_adapter(target.adapter_dir, w.config);
  lora.attach(w);
  OptimConfig o;
  o.lr = 2e-4;
  o.beta1 = 0.9;
  o.beta2 = 0.999;
  o.eps = 1e-8;
  o.weight_decay = 0;
  AdamW adam(lora.parameters(), o);
  const at::Tensor loss = causal_lm_loss(w, lowbit_batch(w.config));
  EXPECT_NEAR(loss.item<double>(), t(prefix + ".loss").item<double>(), 1e-6 * t(prefix + ".loss").item<double>());
  loss.backward();
  // IEC's β are scalars whose gradient is one sum over every token and channel; where it cancels
  // to almost nothing (1e-5 of its siblings' on the small model) its own size is no scale, so a
  // scalar is compared against the largest gradient of its kind (β_A or β_B) over the model.
  std::map<std::string, double> scalar_scale;
  const auto leaf = [](const std::string& name) { return name.substr(name.rfind('.') + 1); };
  for (const Parameter& p : adam.params())
    if (p.value.numel() == 1)
      scalar_scale[leaf(p.name)] = std::max(scalar_scale[leaf(p.name)],
                                            t(prefix + ".grad." + p.name).abs().item<double>());
  int checked = 0;
  for (const Parameter& p : adam.params()) {
    const at::Tensor g = t(prefix + ".grad." + p.name);
    ASSERT_TRUE(p.value.grad().defined()) << p.name;
    const double error = p.value.numel() == 1
                             ? (p.value.grad() - g).abs().item<double>() / scalar_scale[leaf(p.name)]
                             : relative_error(p.value.grad(), g);
    EXPECT_LT(error, 1e-5) << prefix << ": gradient of " << p.name;
    ++checked;
  }
  int expected = 0;
  for (const auto& [name, info] : cases().tensors()) expected += name.rfind(prefix + ".grad.", 0) == 0;
  EXPECT_EQ(checked, expected) << "lowbit's adapter has other parameters than PEFT's";
  // The optimizer on PEFT's own gradients: Adam's first step is ±lr wherever |g| >> eps, so a
  // gradient that is 1e-5 of the largest one may flip sign between two correct implementations;
  // fed the same gradients, clipping and AdamW must agree.
  for (const Parameter& p : adam.params()) {
    at::Tensor value = p.value;
    value.mutable_grad() = t(prefix + ".grad." + p.name);
  }
  clip_grad_norm(adam.params(), 0.3);
  adam.step(o.lr);
  for (const Parameter& p : adam.params())
    EXPECT_LT(relative_error(p.value.detach(), t(prefix + ".step." + p.name)), 1e-6) << prefix << ": " << p.name
        << " after clipping and the AdamW step";
}

TEST(LoraVsPeft, OneQloraStepEqualsPytorchAndPeft) { expect_one_step(run("qlora"), "qlora"); }
TEST(LoraVsPeft, OneIrQloraStepEqualsTheTranscription) { expect_one_step(run("irqlora"), "iec"); }

TEST(LoraVsPeft, AnAdapterTrainedByPeftLoadsWithPeftsLogits) {
  EvalTarget target = resolve_eval_target(run("nf4"));
  target.adapter_dir = test::reference_dir() + "/lora/peft_adapter";
  const LlamaWeights w = whole_model(target);
  EXPECT_LT(masked_relative_error(forward(w, t("batch.input_ids")), t("peft.logits"), real_positions()), 1e-4);
}

}  // namespace
}  // namespace lowbit
