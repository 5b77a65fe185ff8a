// methods/billm against a plain PyTorch transcription of the reference's fasterquant and searches
// (make_billm_cases.py): per 128-column block the salient-column count and the split threshold,
// all four planes' masks, signs and (α, μ) identical, dequantized weights within 1e-5 (relative);
// on random W/H (a salient column, an outlier, a dead input; the reference's up_lim 50 and a
// binding up_lim 8) and on two linears of the small model with the Hessians of real activations.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "framework/model/safetensors.h"
#include "methods/billm.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return s;
}

void expect_case(const SafetensorsFile& f, const std::string& key, const at::Tensor& W, const at::Tensor& H,
                 int64_t up_lim) {
  BillmOptions o;
  o.salient_up_lim = up_lim;
  BillmDecisions d;
  const QuantizedLinear q = billm_quantize(W, H, o, key, &d);
  const at::Tensor salient = test::case_tensor(f, key + ".salient"), split = test::case_tensor(f, key + ".split");
  EXPECT_TRUE(at::equal(at::tensor(d.salient_columns), salient)) << key << ": salient-column counts differ: "
                                                                 << at::tensor(d.salient_columns) << " vs " << salient;
  EXPECT_TRUE(at::equal(at::tensor(d.split), split)) << key << ": split thresholds differ: " << at::tensor(d.split)
                                                     << " vs " << split;
  EXPECT_TRUE(at::equal(q.tensors.at("planes.mask"), test::case_tensor(f, key + ".mask"))) << key << ": masks differ";
  EXPECT_TRUE(at::equal(q.tensors.at("planes.sign"), test::case_tensor(f, key + ".sign"))) << key << ": signs differ";
  EXPECT_TRUE(at::equal(q.tensors.at("planes.alpha"), test::case_tensor(f, key + ".alpha"))) << key << ": alpha differs";
  EXPECT_TRUE(at::equal(q.tensors.at("planes.mu"), test::case_tensor(f, key + ".mu"))) << key << ": mu differs";
  const at::Tensor expected = test::case_tensor(f, key + ".weight");
  const double rel = (q.weight - expected).norm().item<double>() / expected.norm().item<double>();
  EXPECT_LE(rel, 1e-5) << key;
  std::printf("%s: salient columns %s, %.3f bits per weight, weight difference %.3g\n", key.c_str(),
              join(d.salient_columns).c_str(), q.bits_per_weight, rel);
}

TEST(BillmVsPython, SearchesMasksPlanesAndWeightsMatchThePlainImplementation) {
  const SafetensorsFile f(test::reference_dir() + "/billm/cases.safetensors");
  const at::Tensor W = test::case_tensor(f, "W"), H = test::case_tensor(f, "H");
  expect_case(f, "hessian_up50", W, H, 50);
  expect_case(f, "hessian_up8", W, H, 8);
  // 640 rows: 81920 magnitudes per block, where NumPy 1.24 computes the quantile index in float64.
  expect_case(f, "tall.hessian_up50", test::case_tensor(f, "tall.W"), test::case_tensor(f, "tall.H"), 50);
}

TEST(BillmVsPython, SmallModelLinearsMatchThePlainImplementation) {
  const SafetensorsFile f(test::reference_dir() + "/billm/cases.safetensors");
  for (const std::string linear : {"self_attn.q_proj", "mlp.down_proj"}) {
    const std::string prefix = "tiny." + linear;
    expect_case(f, prefix + ".hessian_up50", test::case_tensor(f, prefix + ".W"), test::case_tensor(f, prefix + ".H"), 50);
  }
}

}  // namespace
}  // namespace lowbit
