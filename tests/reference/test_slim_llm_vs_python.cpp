// methods/slim_llm against a plain PyTorch transcription of the reference (make_slim_llm_cases.py):
// the count search's KL error per sample and candidate, the chosen count, the per-group bit map,
// codes, scales and zeros identical, dequantized weights within 1e-5 (relative) -- on random W
// with groups of different scales (an outlier, a dead input) at b = 2, 3 (its symmetric quirk for
// leading 2-bit groups), 4 and with the reference's fixed counts; and on the small model's
// down_proj (6 groups) and q_proj (2 groups: no candidate, every group at b).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "framework/model/safetensors.h"
#include "methods/slim_llm.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

std::string join(const at::Tensor& t) {
  std::string s;
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i) s += ' ';
    s += std::to_string(t[i].item<int64_t>());
  }
  return s;
}

// One case: W [out, in], X [samples, tokens, in], H from X; fixed < 0: the search; `map`: a loaded bit map.
void expect_case(const SafetensorsFile& f, const std::string& key, const at::Tensor& W, const at::Tensor& X,
                 const at::Tensor& H, int bits, int64_t fixed, const std::vector<int>* map = nullptr) {
  SlimLlmOptions o;
  o.bits = bits;
  o.fixed_count = fixed;
  int64_t count = fixed;
  at::Tensor h = H;
  if (fixed < 0 && !map) {
    h = slim_salience_hessian(H);
    SlimCountSearch search(W, h, o);
    for (int64_t s = 0; s < X.size(0); ++s) search.add_sample(X[s], at::matmul(X[s], W.t()));
    const at::Tensor expected = test::case_tensor(f, key + ".errors");  // [samples, candidates] f64
    ASSERT_EQ(search.candidates(), expected.size(1)) << key;
    at::Tensor ours = at::zeros({X.size(0), search.candidates()}, at::kDouble);
    for (int64_t s = 0; s < X.size(0); ++s)
      for (int64_t k = 0; k < search.candidates(); ++k) ours[s][k] = search.errors()[s][k];
    EXPECT_TRUE(at::equal(ours, expected)) << key << ": KL errors differ by up to "
                                           << (ours - expected).abs().max().item<double>();
    count = search.best_count();
  }
  if (!map) {
    EXPECT_EQ(count, test::case_tensor(f, key + ".count").item<int64_t>()) << key << ": the chosen count differs";
  }
  const QuantizedLinear q = slim_llm_quantize(W, h, o, map ? 0 : count, key, map);
  const at::Tensor bits_expected = test::case_tensor(f, key + ".group_bits");
  EXPECT_TRUE(at::equal(q.tensors.at("group_bits").to(at::kLong), bits_expected))
      << key << ": bit maps differ: " << join(q.tensors.at("group_bits")) << " vs " << join(bits_expected);
  EXPECT_TRUE(at::equal(q.tensors.at("codes"), test::case_tensor(f, key + ".codes"))) << key << ": codes differ";
  EXPECT_TRUE(at::equal(q.tensors.at("scale"), test::case_tensor(f, key + ".scale"))) << key << ": scales differ";
  EXPECT_TRUE(at::equal(q.tensors.at("zero"), test::case_tensor(f, key + ".zero"))) << key << ": zeros differ";
  const at::Tensor expected = test::case_tensor(f, key + ".weight");
  const double rel = (q.weight - expected).norm().item<double>() / expected.norm().item<double>();
  EXPECT_LE(rel, 1e-5) << key;
  EXPECT_DOUBLE_EQ(q.tensors.at("group_bits").to(at::kDouble).mean().item<double>(), bits) << key << ": average width";
  std::printf("%s: count %lld, widths %s, %.3f bits per weight, weight difference %.3g\n", key.c_str(),
              static_cast<long long>(count), join(q.tensors.at("group_bits")).c_str(), q.bits_per_weight, rel);
}

TEST(SlimLlmVsPython, SearchBitMapCodesAndWeightsMatchThePlainImplementation) {
  const SafetensorsFile f(test::reference_dir() + "/slim_llm/cases.safetensors");
  const at::Tensor W = test::case_tensor(f, "W"), X = test::case_tensor(f, "X"), H = test::case_tensor(f, "H");
  expect_case(f, "b2_search", W, X, H, 2, -1);
  expect_case(f, "b3_search", W, X, H, 3, -1);
  expect_case(f, "b4_search", W, X, H, 4, -1);
  expect_case(f, "b2_fixed3", W, X, H, 2, 3);
  const std::vector<int> saved = {2, 3, 2, 3, 3, 3, 4, 4};  // the saved-map path: always asymmetric
  expect_case(f, "b3_map", W, X, H, 3, -1, &saved);
}

TEST(SlimLlmVsPython, SmallModelLinearsMatchThePlainImplementation) {
  const SafetensorsFile f(test::reference_dir() + "/slim_llm/cases.safetensors");
  for (const std::string linear : {"mlp.down_proj", "self_attn.q_proj"}) {
    const std::string p = "tiny." + linear;
    expect_case(f, p + ".b2_search", test::case_tensor(f, p + ".W"), test::case_tensor(f, p + ".X"),
                test::case_tensor(f, p + ".H"), 2, -1);
  }
}

// The count search averages each candidate's errors over the samples as np.mean does.
TEST(SlimLlmVsPython, MeanOfErrorsIsNumPysPairwiseMean) {
  const SafetensorsFile f(test::reference_dir() + "/slim_llm/cases.safetensors");
  for (int n : {5, 128, 300}) {
    const at::Tensor v = test::case_tensor(f, "mean" + std::to_string(n) + ".values");
    const std::vector<double> values(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
    EXPECT_EQ(numpy_mean(values), test::case_tensor(f, "mean" + std::to_string(n) + ".numpy").item<double>()) << n;
  }
}

}  // namespace
}  // namespace lowbit
