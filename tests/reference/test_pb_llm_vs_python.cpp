// methods/pb_llm against a plain PyTorch transcription of the reference's fasterquant
// (make_pb_llm_cases.py) on random W/H with an outlier and a dead input: binarization masks, signs,
// μ/α per (row, group) and the salient codes identical, dequantized weights within 1e-5 (relative),
// for hessian and magnitude saliency, groups of 128 and 256 and whole rows, 8- and 4-bit salient parts;
// and on two linears of the small model with the Hessians of its real activations.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>

#include "framework/model/safetensors.h"
#include "methods/pb_llm.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {


struct Case {
  const char* name;
  double low_frac;
  int high_bit;
  bool hessian;
  int64_t group;
};

// The decisions of one case: masks, signs, μ, α and salient codes identical; weights within 1e-5.
void expect_case(const SafetensorsFile& f, const std::string& key, const at::Tensor& W, const at::Tensor& H,
                 const PbLlmOptions& o) {
  const QuantizedLinear q = pb_llm_quantize(W, H, o, key);
  EXPECT_TRUE(at::equal(q.tensors.at("planes.mask")[0], test::case_tensor(f, key + ".mask"))) << key << ": masks differ";
  EXPECT_TRUE(at::equal(q.tensors.at("planes.sign")[0], test::case_tensor(f, key + ".sign"))) << key << ": signs differ";
  EXPECT_TRUE(at::equal(q.tensors.at("planes.mu")[0], test::case_tensor(f, key + ".mu"))) << key << ": mu differs";
  EXPECT_TRUE(at::equal(q.tensors.at("planes.alpha")[0], test::case_tensor(f, key + ".alpha"))) << key << ": alpha differs";
  EXPECT_TRUE(at::equal(q.tensors.at("salient.codes"), test::case_tensor(f, key + ".codes"))) << key << ": salient codes differ";
  const at::Tensor expected = test::case_tensor(f, key + ".weight");
  const double rel = (q.weight - expected).norm().item<double>() / expected.norm().item<double>();
  EXPECT_LE(rel, 1e-5) << key;
  const double binarized = q.tensors.at("planes.mask").to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(binarized, o.low_frac, 0.01) << key;
  std::printf("%s: %.4f binarized, %.3f bits per weight, weight difference %.3g\n", key.c_str(), binarized,
              q.bits_per_weight, rel);
}

PbLlmOptions options(const Case& c) {
  PbLlmOptions o;
  o.low_frac = c.low_frac;
  o.high_bit = c.high_bit;
  o.hessian_saliency = c.hessian;
  o.group_size = c.group;
  return o;
}

const Case kCases[] = {{"frac0.9_hessian_g128", 0.9, 8, true, 128},
                       {"frac0.857_hessian_g128", 6.0 / 7, 8, true, 128},
                       {"frac0.8_magnitude_g256", 0.8, 8, false, 256},
                       {"frac0.5_hessian_4bit_row", 0.5, 4, true, 0}};

TEST(PbLlmVsPython, MasksBinarizerCodesAndWeightsMatchThePlainImplementation) {
  const SafetensorsFile f(test::reference_dir() + "/pb_llm/cases.safetensors");
  const at::Tensor W = test::case_tensor(f, "W"), H = test::case_tensor(f, "H");
  for (const Case& c : kCases) expect_case(f, c.name, W, H, options(c));
}

// The small model's q_proj and down_proj with the Hessians of real activations (accumulated by the
// transcription as the reference's add_batch does).
TEST(PbLlmVsPython, SmallModelLinearsMatchThePlainImplementation) {
  const SafetensorsFile f(test::reference_dir() + "/pb_llm/cases.safetensors");
  for (const auto& [linear, c] : {std::pair{"self_attn.q_proj", kCases[0]}, std::pair{"mlp.down_proj", kCases[1]}}) {
    const std::string prefix = std::string("tiny.") + linear;
    expect_case(f, prefix + "." + c.name, test::case_tensor(f, prefix + ".W"), test::case_tensor(f, prefix + ".H"), options(c));
  }
}

}  // namespace
}  // namespace lowbit
