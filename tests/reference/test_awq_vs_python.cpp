// methods/awq against a plain PyTorch transcription of METHODS.md §6 (make_awq_cases.py), and the
// released AutoAWQ package's own scale and clip searches as a second oracle (W3 g128), on every
// block of lowbit-tiny-llama3 with the transcription's own full-precision block inputs: the chosen
// scale ratio of every junction and the clip step of every (row, group) identical, the folded norms
// and the final dequantized weights within 1e-5 (relative). The statistics come through the
// driver's gather_block_statistics and the block runs through a BlockContext, as in a real run.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "framework/calibrate/layer_loop.h"
#include "framework/model/safetensors.h"
#include "methods/awq.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {


double relative(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / b.norm().item<double>();
}

struct Case {
  const char* name;
  int bits;
  int64_t group;
};

TEST(AwqVsPython, DecisionsAndWeightsMatchThePlainImplementationOnEveryBlock) {
  const SafetensorsFile f(test::reference_dir() + "/awq/cases.safetensors");
  const LlamaWeights w = load_llama(test::tiny_model_dir(), LoadOptions{});
  const LlamaConfig& c = w.config;
  c10::InferenceMode guard;
  MethodNeeds needs;
  needs.statistics = {Statistic::AbsMean};
  double worst = 0;
  int64_t decisions = 0, autoawq_decisions = 0;
  for (const Case& k : {Case{"w3_g128", 3, 128}, Case{"w4_g128", 4, 128}, Case{"w4_perchannel", 4, 0}}) {
    AwqOptions opt;
    opt.bits = k.bits;
    opt.group_size = k.group;
    for (int64_t b = 0; b < c.num_hidden_layers; ++b) {
      const std::string key = std::string(k.name) + "." + std::to_string(b);
      const at::Tensor x = test::case_tensor(f, "x." + std::to_string(b));  // [8, 256, hidden]
      const RopeTables rope = rope_tables(c, x.size(1), at::kFloat);
      const BlockStatistics stats =
          gather_block_statistics(w.blocks[b], c, x, rope, 2,
                                  {LinearInput::Attention, LinearInput::AttentionOutput, LinearInput::Mlp,
                                   LinearInput::MlpDown}, needs);
      const BlockContext ctx(b, w.blocks[b], c, x, rope, 2, stats);
      const AwqResult r = awq_quantize_block(ctx, opt);

      const at::Tensor ratios = test::case_tensor(f, key + ".ratios"), losses = test::case_tensor(f, key + ".losses");
      ASSERT_EQ(static_cast<int64_t>(r.junctions.size()), ratios.size(0)) << key << ": v->o is skipped with GQA";
      for (std::size_t j = 0; j < r.junctions.size(); ++j) {
        EXPECT_EQ(r.junctions[j].ratio_index, ratios[j].item<int64_t>()) << key << " junction " << r.junctions[j].previous;
        for (int i = 0; i < opt.n_grid; ++i)
          EXPECT_NEAR(r.junctions[j].losses[i], losses[j][i].item<double>(), 1e-4 * losses[j][i].item<double>())
              << key << " junction " << r.junctions[j].previous << " ratio " << i;
      }
      ASSERT_EQ(r.clip.size(), 5u) << key << ": every linear but q and k is clipped";
      for (const auto& [module, steps] : r.clip_index) {
        const at::Tensor expected = test::case_tensor(f, key + ".clip_index." + module);
        const int64_t differ = (steps != expected).sum().item<int64_t>();
        decisions += expected.numel();
        EXPECT_EQ(differ, 0) << key << " " << module << ": " << differ << " of " << expected.numel()
                             << " (row, group) clip steps differ";
        EXPECT_LE(relative(r.clip.at(module), test::case_tensor(f, key + ".clip." + module)), 1e-6) << key << " " << module;
      }
      for (const auto& [module, q] : r.block.linears) {
        const double rel = relative(q.weight, test::case_tensor(f, key + ".weight." + module));
        worst = std::max(worst, rel);
        EXPECT_LE(rel, 1e-5) << key << " " << module;
      }
      // The second oracle, AutoAWQ's own search functions on the same inputs (W3 g128 only).
      if (k.name == std::string("w3_g128")) {
        for (const AwqJunction& j : r.junctions) {
          const at::Tensor theirs = test::case_tensor(f, "autoawq." + key + ".scales." + j.previous);
          EXPECT_LE(relative(j.scales, theirs), 1e-6) << key << " autoawq scales at " << j.previous;
        }
        for (const auto& [module, clip] : r.clip) {
          const at::Tensor theirs = test::case_tensor(f, "autoawq." + key + ".clip." + module);
          const int64_t differ = (at::abs(clip - theirs) > 1e-6 * at::abs(theirs)).sum().item<int64_t>();
          autoawq_decisions += theirs.numel();
          EXPECT_EQ(differ, 0) << key << " " << module << ": " << differ << " clip values differ from AutoAWQ's";
        }
      }
      EXPECT_LE(relative(r.block.parameters.at("input_layernorm.weight"), test::case_tensor(f, key + ".norm.input")), 1e-6) << key;
      EXPECT_LE(relative(r.block.parameters.at("post_attention_layernorm.weight"), test::case_tensor(f, key + ".norm.post")), 1e-6)
          << key;
    }
  }
  std::printf("AWQ vs the transcription: %lld clip decisions compared, worst weight difference %.3g (relative); "
              "vs AutoAWQ: %lld clip values\n", static_cast<long long>(decisions), worst,
              static_cast<long long>(autoawq_decisions));
}

}  // namespace
}  // namespace lowbit
