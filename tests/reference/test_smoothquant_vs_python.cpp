// methods/smoothquant and the activation quantizer of the forward spec against a plain PyTorch
// transcription of METHODS.md §7 (make_smoothquant_cases.py), on every block of lowbit-tiny-llama3
// with the transcription's full-precision block inputs: the per-channel abs-max statistics exact,
// smoothing factors and smoothed norms to 1e-6, weights to 1e-6, the per-token quantizer bitwise,
// and the block's output with weights and activations quantized (q/k/v outputs too) to 1e-5.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <string>

#include "framework/calibrate/layer_loop.h"
#include "framework/config/yaml_reader.h"
#include "framework/model/activation_quant.h"
#include "framework/model/safetensors.h"
#include "methods/smoothquant.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {


double relative(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / b.norm().item<double>();
}

TEST(SmoothQuantVsPython, PerTokenActivationQuantizerIsBitwiseTheReferences) {
  const SafetensorsFile f(test::reference_dir() + "/smoothquant/cases.safetensors");
  const at::Tensor x = test::case_tensor(f, "act.in");
  for (int bits : {8, 6, 4}) {
    ActivationQuant spec;
    spec.bits = bits;
    const at::Tensor ours = fake_quantize_activations(x, spec);
    EXPECT_TRUE(at::equal(ours, test::case_tensor(f, "act.q" + std::to_string(bits)))) << bits << " bits";
  }
  ActivationQuant off;
  EXPECT_TRUE(at::equal(fake_quantize_activations(x, off), x));
}

TEST(SmoothQuantVsPython, SmoothingWeightsAndQuantizedBlockMatchOnEveryBlock) {
  const SafetensorsFile f(test::reference_dir() + "/smoothquant/cases.safetensors");
  const LlamaWeights w = load_llama(test::tiny_model_dir(), LoadOptions{});
  const LlamaConfig& c = w.config;
  c10::InferenceMode guard;
  struct Case {
    const char* name;
    const char* yaml;
  };
  for (const Case& k : {Case{"w8a8", "bits: 8\na_bits: 8\nalpha: 0.85\n"}, Case{"w4a4", "bits: 4\na_bits: 4\nalpha: 0.5\n"}}) {
    YamlSection params = load_yaml_text(k.yaml, "test.yaml");
    const auto method = MethodRegistry::builtin().get("smoothquant").create(params);
    for (int64_t b = 0; b < c.num_hidden_layers; ++b) {
      const std::string key = std::string(k.name) + "." + std::to_string(b);
      const at::Tensor x = test::case_tensor(f, "x." + std::to_string(b));  // [8, 256, hidden]
      const RopeTables rope = rope_tables(c, x.size(1), at::kFloat);
      const BlockStatistics stats = gather_block_statistics(
          w.blocks[b], c, x, rope, 2, {LinearInput::Attention, LinearInput::AttentionOutput, LinearInput::Mlp, LinearInput::MlpDown},
          method->needs());
      const at::Tensor act_attn = stats.get(Statistic::AbsMax, LinearInput::Attention);
      const at::Tensor act_mlp = stats.get(Statistic::AbsMax, LinearInput::Mlp);
      EXPECT_TRUE(at::equal(act_attn, test::case_tensor(f, key + ".act_max.attention"))) << key;
      EXPECT_TRUE(at::equal(act_mlp, test::case_tensor(f, key + ".act_max.mlp"))) << key;
      const double alpha = k.name == std::string("w8a8") ? 0.85 : 0.5;
      const BlockWeights& o = w.blocks[b];
      EXPECT_LE(relative(smoothing_factors(act_attn, {o.q, o.k, o.v}, alpha), test::case_tensor(f, key + ".s.attention")), 1e-6) << key;
      EXPECT_LE(relative(smoothing_factors(act_mlp, {o.gate, o.up}, alpha), test::case_tensor(f, key + ".s.mlp")), 1e-6) << key;

      const BlockContext ctx(b, w.blocks[b], c, x, rope, 2, stats);
      const QuantizedBlock q = method->quantize_block(ctx, LinearSet::all());
      EXPECT_LE(relative(q.parameters.at("input_layernorm.weight"), test::case_tensor(f, key + ".norm.input")), 1e-6) << key;
      EXPECT_LE(relative(q.parameters.at("post_attention_layernorm.weight"), test::case_tensor(f, key + ".norm.post")), 1e-6) << key;
      for (const auto& [module, l] : q.linears)
        EXPECT_LE(relative(l.weight, test::case_tensor(f, key + ".weight." + module)), 1e-6) << key << " " << module;
      // The block as evaluation runs it: the forward spec applied on every linear input and q/k/v.
      const BlockWeights applied = apply_quantized_block(w.blocks[b], q, key);
      ASSERT_TRUE(applied.act.enabled() && applied.act.quantize_qkv_outputs);
      const at::Tensor out = forward_block(applied, c, x, rope, 2);
      EXPECT_LE(relative(out, test::case_tensor(f, key + ".out")), 1e-5) << key;
    }
  }
}

}  // namespace
}  // namespace lowbit
