// lowbit's LLaMA forward against Hugging Face transformers on the models make_hf_models.py built:
// GQA + llama3 RoPE (untied, fp32 file), tied embeddings (fp16 file), sharded bf16 files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "framework/model/llama_arch.h"
#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"
#include "framework/model/safetensors.h"
#include "framework/model/safetensors_writer.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

const char* const kModels[] = {"gqa_llama3_untied", "tied_mha_f16", "sharded_gqa_bf16"};

std::string model_dir(const std::string& name) { return (fs::path(test::reference_dir()) / "models" / name).string(); }

at::Tensor reference(const std::string& name, const std::string& tensor) {
  SafetensorsFile f(model_dir(name) + "/reference.safetensors");
  const TensorView v = f.view(tensor);
  const auto dtype = v.info->dtype == DType::I64 ? at::kLong : at::kFloat;
  return at::from_blob(const_cast<std::byte*>(v.data), v.info->shape, at::TensorOptions().dtype(dtype)).clone();
}

// max |a - b| / max |b|
double relative_error(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

class ForwardVsTransformers : public ::testing::TestWithParam<const char*> {};

TEST_P(ForwardVsTransformers, Float32LogitsMatchWithin1e4OfMaxLogit) {
  const std::string name = GetParam();
  const LlamaWeights w = load_llama(model_dir(name));
  const at::Tensor logits = forward(w, reference(name, "ids"));
  const at::Tensor expected = reference(name, "logits_fp32");
  ASSERT_EQ(logits.sizes(), expected.sizes());
  const double err = relative_error(logits, expected);
  RecordProperty("relative_error", std::to_string(err));
  EXPECT_LE(err, 1e-4) << name;
}

TEST_P(ForwardVsTransformers, Bfloat16LogitsMatchTransformersBfloat16) {
  const std::string name = GetParam();
  LoadOptions opt;
  opt.dtype = at::kBFloat16;
  const LlamaWeights w = load_llama(model_dir(name), opt);
  const at::Tensor logits = forward(w, reference(name, "ids"));
  // bf16 keeps 8 significant bits: 1e-2 of the largest logit is a few bf16 steps, while a wrong
  // recipe (e.g. RMSNorm not in fp32) or fp32 compute differs from transformers' bf16 by 3-8e-2.
  EXPECT_LE(relative_error(logits, reference(name, "logits_bf16")), 1e-2) << name;
}

TEST_P(ForwardVsTransformers, BlocksSplitAcrossTwoLoadsGiveTheSameLogits) {
  // What two pipeline ranks do: the first holds the embedding and the first blocks, the second the
  // remaining blocks and the head.
  const std::string name = GetParam();
  const at::Tensor ids = reference(name, "ids");
  const LlamaWeights all = load_llama(model_dir(name));
  const int64_t split = all.config.num_hidden_layers / 2;
  LoadOptions first;
  first.end_block = split;
  first.head = false;
  LoadOptions second;
  second.first_block = split;
  second.embedding = false;
  const LlamaWeights a = load_llama(model_dir(name), first);
  const LlamaWeights b = load_llama(model_dir(name), second);
  EXPECT_FALSE(a.lm_head.defined());
  EXPECT_FALSE(b.embedding.defined());
  at::InferenceMode guard;
  const at::Tensor piped = head(b, blocks_forward(b, blocks_forward(a, embed(a, ids))));
  EXPECT_TRUE(at::equal(piped, forward(all, ids))) << name;
}

INSTANTIATE_TEST_SUITE_P(Models, ForwardVsTransformers, ::testing::ValuesIn(kModels),
                         [](const auto& info) { return std::string(info.param); });

// ---- bad model directories -------------------------------------------------------------------

// Copies `name` into `dir`, leaving out `drop` and giving config.json's `field` the value `value`.
void copy_model(const std::string& name, const test::TempDir& dir, const std::string& drop = "") {
  const fs::path src = model_dir(name);
  fs::copy_file(src / "config.json", dir.path() / "config.json");
  SafetensorsFile f((src / "model.safetensors").string());
  std::vector<TensorToWrite> keep;
  for (const auto& [tname, info] : f.tensors())
    if (tname != drop) keep.push_back({tname, info.dtype, info.shape, f.view(tname).data});
  write_safetensors(dir.file("model.safetensors"), keep);
}

TEST(LoadLlama, TensorTheConfigNeedsButTheFileLacksIsRefused) {
  test::TempDir dir;
  copy_model("gqa_llama3_untied", dir, "model.layers.1.mlp.up_proj.weight");
  EXPECT_LOWBIT_ERROR(load_llama(dir.path().string()),
                      {"model.safetensors", "missing tensor 'model.layers.1.mlp.up_proj.weight'", "config.json"});
}

TEST(LoadLlama, TensorWhoseShapeDisagreesWithConfigIsRefused) {
  test::TempDir dir;
  copy_model("gqa_llama3_untied", dir);
  std::string config = test::read_file(dir.file("config.json"));
  const std::string from = "\"intermediate_size\": 344";
  ASSERT_NE(config.find(from), std::string::npos);
  config.replace(config.find(from), from.size(), "\"intermediate_size\": 345");
  test::write_file(dir.file("config.json"), config);
  EXPECT_LOWBIT_ERROR(load_llama(dir.path().string()),
                      {"model.safetensors", "model.layers.0.mlp.gate_proj.weight", "[344, 128]", "[345, 128]"});
}

TEST(LoadLlama, BlockRangeOutsideTheModelIsRefused) {
  LoadOptions opt;
  opt.first_block = 2;
  opt.end_block = 9;
  EXPECT_LOWBIT_ERROR(load_llama(model_dir("gqa_llama3_untied"), opt), {"block range [2, 9)", "3 blocks"});
}

TEST(LoadLlama, LoadingOneBlockNeverReadsTheOtherShards) {
  // Corrupt the shard holding lm_head; the embedding and block 0 still load, the head does not.
  test::TempDir dir;
  const fs::path src = model_dir("sharded_gqa_bf16");
  for (const auto& e : fs::directory_iterator(src)) fs::copy_file(e.path(), dir.path() / e.path().filename());
  SafetensorsModel model(dir.path().string());
  const std::string head_file = model.file_of("lm_head.weight");
  const LlamaConfig c = LlamaConfig::from_file(dir.file("config.json"));
  ASSERT_NE(model.file_of("model.embed_tokens.weight"), head_file);
  for (const auto& spec : block_tensors(c, 0)) ASSERT_NE(model.file_of(spec.name), head_file);
  fs::resize_file(head_file, 100);  // header length now runs past the end

  LoadOptions first;
  first.end_block = 1;
  first.head = false;
  const LlamaWeights w = load_llama(dir.path().string(), first);
  EXPECT_EQ(w.blocks.size(), 1u);
  EXPECT_LOWBIT_ERROR(load_llama(dir.path().string()), {fs::path(head_file).filename().string(), "past the end"});
}

}  // namespace
}  // namespace lowbit
