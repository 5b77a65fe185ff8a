// methods/common/uniform_quantizer against an independent NumPy implementation of the GPTQ
// quantizer (make_quant_cases.py) over bits 2/3/4/8, per-channel and group 128, asym and sym.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/model/safetensors.h"
#include "methods/common/uniform_quantizer.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

at::Tensor read(const SafetensorsFile& f, const std::string& name) {
  const TensorView v = f.view(name);
  return at::from_blob(const_cast<std::byte*>(v.data), v.info->shape, at::kFloat).clone();
}

TEST(UniformQuantizerVsNumpy, FakeQuantizedWeightsAreIdentical) {
  const SafetensorsFile f(test::reference_dir() + "/quant/cases.safetensors");
  const at::Tensor w = read(f, "w");
  int cases = 0;
  for (int bits : {2, 3, 4, 8})
    for (int64_t group : {0, 128})
      for (bool sym : {false, true}) {
        const std::string name = std::to_string(bits) + "b_g" + std::to_string(group) + (sym ? "_sym" : "_asym");
        const at::Tensor ours = fake_quantize(w, {bits, group, sym});
        const at::Tensor expected = read(f, name);
        EXPECT_TRUE(at::equal(ours, expected)) << name << ": max |diff| " << (ours - expected).abs().max().item<float>();
        ++cases;
      }
  EXPECT_EQ(cases, 16);
}

TEST(UniformQuantizer, GroupSizeThatDoesNotDivideTheRowIsRefused) {
  EXPECT_THROW(fake_quantize(at::zeros({4, 100}), {4, 128, false}), lowbit::Error);
}

}  // namespace
}  // namespace lowbit
