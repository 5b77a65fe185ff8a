// LoRA pieces on their own: the adapter path against a plain elementwise computation of PEFT's and
// IR-QLoRA's formulas, merging (evaluation) equal to the unmerged forward (training), PEFT adapter
// files round-tripping and their refusals, instruction data framing and its errors, fine-tuning
// config checks, and transformers' constant-with-warm-up schedule.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/core/files.h"
#include "framework/data/instructions.h"
#include "framework/model/llama_forward.h"
#include "framework/train/adamw.h"
#include "framework/train/finetune_config.h"
#include "framework/train/peft_adapter.h"
#include "framework/train/token_windows.h"
#include "tests/support/expect_error.h"
#include "tests/support/small_llama_config.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

LlamaConfig small_config() { return test::small_llama_config(); }

std::string temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("lowbit-test-lora-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

// Adapters with B and β nonzero (a fresh B is 0, which would hide every B- and β-term).
LoraModel trained_looking(const LlamaConfig& c, bool iec, int64_t r = 4) {
  LoraConfig lc;
  lc.r = r;
  lc.alpha = 8;
  lc.iec = iec;
  LoraModel m = LoraModel::init(c, lc, 7);
  at::manual_seed(3);
  for (const Parameter& p : m.parameters()) {
    at::Tensor v = p.value;
    if (p.name.find("lora_B") != std::string::npos) v.normal_(0, 0.05);
    if (p.name.find("scale") != std::string::npos) v.fill_(p.name.find("A_scale") != std::string::npos ? 0.3 : -0.7);
  }
  return m;
}

TEST(LoraAdapter, IecTermsAreIrQlorasGroupMeanAndRepeat) {
  // y = W x + s·(B·u + β_B·u_{j div (out/r)}),  u_k = (A x)_k + β_A·mean(x[k·in/r, (k+1)·in/r)).
  const int64_t in = 8, out = 6, r = 2;
  at::manual_seed(0);
  BlockAdapters ad;
  LinearAdapter& l = ad.at(BlockTensor::Q);
  l.a = at::randn({r, in});
  l.b = at::randn({out, r});
  l.beta_a = at::full({1}, 0.5);
  l.beta_b = at::full({1}, -1.5);
  l.scaling = 0.25;
  const at::Tensor x = at::randn({3, in}), y = at::randn({3, out});
  const at::Tensor got = add_adapter(ad, BlockTensor::Q, x, y);
  for (int64_t n = 0; n < 3; ++n) {
    std::vector<double> u(r);
    for (int64_t k = 0; k < r; ++k) {
      double ax = 0, mean = 0;
      for (int64_t i = 0; i < in; ++i) ax += l.a[k][i].item<double>() * x[n][i].item<double>();
      for (int64_t i = k * in / r; i < (k + 1) * in / r; ++i) mean += x[n][i].item<double>() / (in / r);
      u[k] = ax + 0.5 * mean;
    }
    for (int64_t j = 0; j < out; ++j) {
      double bu = 0;
      for (int64_t k = 0; k < r; ++k) bu += l.b[j][k].item<double>() * u[k];
      const double want = y[n][j].item<double>() + 0.25 * (bu - 1.5 * u[j / (out / r)]);
      EXPECT_NEAR(got[n][j].item<double>(), want, 1e-5) << n << "," << j;
    }
  }
}

TEST(LoraAdapter, MergedWeightsGiveTheUnmergedForward) {
  const LlamaConfig c = small_config();
  for (const bool iec : {false, true}) {
    const LoraModel lora = trained_looking(c, iec);
    LlamaWeights unmerged = init_llama(c, 1);
    lora.attach(unmerged);
    LlamaWeights merged = init_llama(c, 1);
    lora.merge_into(merged);
    const at::Tensor ids = at::randint(0, c.vocab_size, {2, 7}, at::kLong);
    const at::Tensor a = forward(unmerged, ids), b = forward(merged, ids);
    EXPECT_LT((a - b).abs().max().item<double>() / a.abs().max().item<double>(), 1e-5) << "iec " << iec;
    const at::Tensor plain = forward(init_llama(c, 1), ids);
    EXPECT_GT((a - plain).abs().max().item<double>(), 1e-3) << "the adapters change nothing (iec " << iec << ")";
  }
}

TEST(PeftAdapter, RoundTripsWithPeftsNamesAndConfig) {
  const LlamaConfig c = small_config();
  const LoraModel lora = trained_looking(c, true);
  const std::string dir = temp_dir("roundtrip");
  save_peft_adapter(dir, lora, "tiny");
  const auto cfg = nlohmann::json::parse(read_file(dir + "/adapter_config.json"));
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["lora_alpha"], 8.0);
  EXPECT_EQ(cfg["target_modules"].size(), 7u);
  const LoraModel back = load_peft_adapter(dir, c);
  const auto a = lora.parameters(), b = back.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_TRUE(at::equal(a[i].value, b[i].value)) << a[i].name;
  }
  EXPECT_EQ(a[0].name, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(a[2].name, "base_model.model.model.layers.0.self_attn.q_proj.lora_default_A_scale");
  EXPECT_TRUE(back.config().iec);
}

TEST(PeftAdapter, RefusesWhatLowbitWouldNotApplyNamingTheField) {
  const LlamaConfig c = small_config();
  const std::string dir = temp_dir("refusals");
  save_peft_adapter(dir, trained_looking(c, false), "tiny");
  const std::string config_path = dir + "/adapter_config.json";
  const std::string original = read_file(config_path);
  auto rewrite = [&](const char* key, const nlohmann::json& value) {
    auto j = nlohmann::json::parse(original);
    j[key] = value;
    write_file_atomic(config_path, j.dump());
  };
  rewrite("use_dora", true);
  EXPECT_LOWBIT_ERROR(load_peft_adapter(dir, c), {"adapter_config.json", "use_dora", "DoRA"});
  rewrite("target_modules", ".*proj");
  EXPECT_LOWBIT_ERROR(load_peft_adapter(dir, c), {"target_modules", "regular expression"});
  rewrite("r", 8);  // the tensors are rank 4
  EXPECT_LOWBIT_ERROR(load_peft_adapter(dir, c), {"adapter_model.safetensors", "lora_A.weight", "[4, 32]"});
  rewrite("peft_type", "IA3");
  EXPECT_LOWBIT_ERROR(load_peft_adapter(dir, c), {"peft_type", "IA3"});
  write_file_atomic(config_path, original);
  LlamaConfig deeper = c;
  deeper.num_hidden_layers = 3;
  EXPECT_LOWBIT_ERROR(load_peft_adapter(dir, deeper), {"missing tensor", "layers.2."});
  fs::rename(dir + "/adapter_model.safetensors", dir + "/adapter_model.bin");
  EXPECT_LOWBIT_ERROR(load_peft_adapter(dir, c), {"adapter_model.bin", "safe_serialization"});
}

TEST(Instructions, AlpacaFramingAndLossOnTheResponseOnly) {
  InstructionExample with{"Define it.", "word", "A thing."}, without{"Say hi.", "", "Hi."};
  EXPECT_EQ(alpaca_prompt(without),
            "Below is an instruction that describes a task. Write a response that appropriately completes the "
            "request.\n\n### Instruction:\nSay hi.\n\n### Response: ");
  EXPECT_NE(alpaca_prompt(with).find("### Input:\nword\n\n### Response: "), std::string::npos);
  TokenizedExample a{{0, 5, 6, 7, 8, 1}, 3}, b{{0, 9, 10, 1}, 2};
  const TokenBatch batch = collate_instructions({&a, &b}, 1);
  EXPECT_TRUE(at::equal(batch.inputs, at::tensor({0, 5, 6, 7, 8, 1, 0, 9, 10, 1, 1, 1}, at::kLong).view({2, 6})));
  // Position j predicts token j + 1: the first target is the first response token.
  EXPECT_TRUE(at::equal(batch.targets,
                        at::tensor({-100, -100, 7, 8, 1, -100, -100, 10, 1, -100, -100, -100}, at::kLong).view({2, 6})));
  EXPECT_EQ(batch.tokens, 10);
}

TEST(Instructions, BadRecordsAreRefusedNamingFileAndRecord) {
  const std::string dir = temp_dir("instructions");
  write_file_atomic(dir + "/a.json", R"([{"instruction": "x", "output": "y"}, {"instruction": "x"}])");
  EXPECT_LOWBIT_ERROR(read_instructions(dir + "/a.json"), {"a.json", "record 1", "'output' is missing"});
  write_file_atomic(dir + "/b.jsonl", "{\"instruction\": \"x\", \"input\": 3, \"output\": \"y\"}\n");
  EXPECT_LOWBIT_ERROR(read_instructions(dir + "/b.jsonl"), {"b.jsonl:1", "'input' must be a string"});
  write_file_atomic(dir + "/c.json", "{\"instruction\": \"x\"}");
  EXPECT_LOWBIT_ERROR(read_instructions(dir + "/c.json"), {"c.json", "JSON array"});
}

TEST(FinetuneConfig, RefusesBatchesRanksCannotSplitAndIecRanksThatDoNotDivide) {
  const std::string dir = temp_dir("config");
  const std::string path = dir + "/ft.yaml";
  write_file_atomic(path, "base: b\ndata: {train: t.json, validation: v.json}\nlora: {r: 5, iec: true}\n"
                          "training: {batch_size: 16, micro_batch: 4}\noutput: {dir: o}\n");
  const FinetuneConfig cfg = FinetuneConfig::from_yaml(path);
  EXPECT_EQ(cfg.optim(2).grad_accum, 2);
  EXPECT_EQ(cfg.optim(1).warmup_steps, 0);  // transformers' "constant" schedule ignores warmup_ratio
  EXPECT_LOWBIT_ERROR(cfg.optim(3), {"ft.yaml", "training.batch_size", "(3)"});
  EXPECT_LOWBIT_ERROR(cfg.lora.check(small_config(), path), {"ft.yaml", "lora.iec", "lora.r (5)"});
  EXPECT_LOWBIT_ERROR(FinetuneConfig::from_yaml(path, {"training.lr_scheduler_type=cosine"}),
                      {"training.lr_scheduler_type", "constant_with_warmup"});
}

TEST(Schedule, ConstantWithWarmupIsTransformers) {
  OptimConfig o;
  o.lr = 2e-4;
  o.schedule = "constant_with_warmup";
  o.warmup_steps = 4;
  EXPECT_EQ(learning_rate(o, 0), 0.0);  // LambdaLR's first step: 0 / warmup
  EXPECT_DOUBLE_EQ(learning_rate(o, 2), 1e-4);
  EXPECT_DOUBLE_EQ(learning_rate(o, 4), 2e-4);
  EXPECT_DOUBLE_EQ(learning_rate(o, 100), 2e-4);
}

}  // namespace
}  // namespace lowbit
