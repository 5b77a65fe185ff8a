// The LLaMA-3 presets have the published sizes: Meta-Llama-3-8B holds 8,030,261,248 parameters and
// Meta-Llama-3-70B 70,553,706,496 (their Hugging Face safetensors indexes).
#include <gtest/gtest.h>

#include "framework/model/llama_arch.h"
#include "framework/model/llama_presets.h"
#include "tests/support/expect_error.h"

namespace lowbit {
namespace {

int64_t parameters(const LlamaConfig& c) {
  int64_t n = 0;
  for (const TensorSpec& s : all_tensors(c)) {
    int64_t k = 1;
    for (int64_t d : s.shape) k *= d;
    n += k;
  }
  return n;
}

TEST(LlamaPresets, Llama3_8bHasThePublishedParameterCount) {
  EXPECT_EQ(parameters(llama_preset("llama3-8b")), 8030261248LL);
}

TEST(LlamaPresets, Llama3_70bHasThePublishedParameterCount) {
  EXPECT_EQ(parameters(llama_preset("llama3-70b")), 70553706496LL);
}

TEST(LlamaPresets, UnknownNameIsRefusedListingTheKnownOnes) {
  EXPECT_LOWBIT_ERROR(llama_preset("llama2-7b"), {"'llama2-7b'", "llama3-8b", "llama3-70b"});
}

}  // namespace
}  // namespace lowbit
