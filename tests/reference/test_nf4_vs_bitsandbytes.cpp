// methods/common/nf4 against bitsandbytes' own quantize_4bit / dequantize_4bit on the CPU
// (make_nf4_cases.py): the packed bytes, the absmax state (double-quantized codes, nested absmax,
// offset) and the dequantized weight identical, with and without double quantization, on random
// weights (a partial last block, an odd count, values on the code book's midpoints, a zero block)
// and on the small model's linears; the dynamic map and code book are bitsandbytes'. ICQ against a
// plain transcription of IR-QLoRA's search: the factor, τ1, τ2 and the codes identical per block;
// the codes' entropy above plain NF4's on average and on most blocks (not on every one: see below).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "framework/model/safetensors.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/icq.h"
#include "methods/common/nf4.h"
#include "tests/support/case_tensors.h"
#include "tests/support/expect_error.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

const SafetensorsFile& cases() {
  static const SafetensorsFile f(test::reference_dir() + "/nf4/cases.safetensors");
  return f;
}
at::Tensor t(const std::string& name) { return test::case_tensor(cases(), name); }

TEST(Nf4VsBitsandbytes, CodeBookAndDynamicMapAreBitsandbytes) {
  EXPECT_TRUE(at::equal(nf4_code_book(), t("code_book")));
  EXPECT_TRUE(at::equal(bnb_dynamic_map(), t("dynamic_map")));
}

TEST(Nf4VsBitsandbytes, PackedBytesAbsmaxStateAndWeightsAreIdentical) {
  for (const std::string c : {"wide", "odd", "ragged", "ties", "tiny.q_proj", "tiny.k_proj", "tiny.down_proj"}) {
    const at::Tensor W = t(c + ".W");
    for (const bool dq : {true, false}) {
      const std::string key = c + (dq ? ".dq" : ".plain");
      const Nf4State s = nf4_quantize(W, 64, dq);
      EXPECT_TRUE(at::equal(s.packed, t(key + ".packed"))) << key << ": "
          << s.packed.ne(t(key + ".packed")).sum().item<int64_t>() << " bytes differ";
      EXPECT_TRUE(at::equal(s.absmax, t(key + ".absmax"))) << key << ": absmax differs";
      if (dq) {
        EXPECT_TRUE(at::equal(s.nested_absmax, t(key + ".nested_absmax"))) << key << ": nested absmax differs";
        EXPECT_TRUE(at::equal(s.offset, t(key + ".offset"))) << key << ": offset differs";
      }
      const at::Tensor w = nf4_dequantize(s, W.numel()).view(W.sizes());
      EXPECT_TRUE(at::equal(w, t(key + ".weight"))) << key << ": max difference "
          << (w - t(key + ".weight")).abs().max().item<double>();
    }
  }
}

TEST(IcqVsPython, FactorsTauAndCodesMatchAndEntropyBeatsPlainNf4sOnMostBlocks) {
  for (const std::string c : {"icq.random", "icq.q_proj"}) {
    const at::Tensor W = t(c + ".W");
    const IcqResult r = icq_search(W, 0.1, 100, c);
    EXPECT_TRUE(at::equal(r.factor, t(c + ".factor"))) << c << ": " << r.factor.ne(t(c + ".factor")).sum().item<int64_t>()
                                                       << " blocks chose another factor";
    EXPECT_TRUE(at::equal(r.tau1, t(c + ".tau1"))) << c << ": tau1 differs";
    EXPECT_TRUE(at::equal(r.tau2, t(c + ".tau2"))) << c << ": tau2 differs";
    EXPECT_TRUE(at::equal(r.entropy, t(c + ".entropy"))) << c << ": entropy differs";
    const Nf4State s = nf4_quantize((W.reshape({-1, 64}) - r.tau.unsqueeze(1)).view(W.sizes()), 64, true);
    EXPECT_TRUE(at::equal(s.packed, t(c + ".packed"))) << c << ": codes differ";
    EXPECT_TRUE(at::equal(s.absmax, t(c + ".absmax")) && at::equal(s.nested_absmax, t(c + ".nested_absmax")) &&
                at::equal(s.offset, t(c + ".offset")))
        << c << ": absmax state differs";
    // The reference searches around the block's median (τ0 ± 0.1·σ·A), a range that need not hold
    // τ = 0: a block can end below plain NF4's entropy (about 5 % of them here). The gain is on
    // average, and on most blocks.
    const at::Tensor plain = nf4_block_entropy(nf4_unpack(nf4_quantize(W, 64, false).packed, W.numel()));
    const int64_t blocks = plain.size(0), lower = (r.entropy < plain).sum().item<int64_t>(),
                  higher = (r.entropy > plain).sum().item<int64_t>();
    EXPECT_GT(r.entropy.mean().item<double>(), plain.mean().item<double>() + 0.05) << c;
    EXPECT_LT(lower * 10, blocks) << c << ": " << lower << " of " << blocks << " blocks below plain NF4's entropy";
    EXPECT_GT(higher * 2, blocks) << c;
    std::printf("%s: mean entropy per block %.4f bits (plain NF4 %.4f); of %ld blocks %ld higher, %ld lower\n",
                c.c_str(), r.entropy.mean().item<double>(), plain.mean().item<double>(), static_cast<long>(blocks),
                static_cast<long>(higher), static_cast<long>(lower));
  }
}

// ICQ's τ scale covers 256 blocks of 64: a weight count that is not a multiple of 16384 is refused.
TEST(IcqVsPython, WeightCountNotAMultipleOf16384IsRefused) {
  EXPECT_LOWBIT_ERROR(icq_search(at::zeros({64, 128}), 0.1, 100, "block 0: mlp.up_proj"),
                      {"block 0: mlp.up_proj", "8192 weights", "16384"});
}

}  // namespace
}  // namespace lowbit
