// Every registered method, on block 0 of lowbit-tiny-llama3 with Hessians from real activations:
// it quantizes all seven linears, its artifact reproduces its dequantized weight, and at 8 bits
// the weight stays within a named tolerance of the original. New methods are tested the day they
// are registered. Plus the registry's own rules.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include "framework/calibrate/layer_loop.h"
#include "framework/config/yaml_reader.h"
#include "framework/core/files.h"
#include "framework/model/tokenizer.h"
#include "methods/common/gptq_solver.h"
#include "methods/common/hessian.h"
#include "methods/method.h"
#include "tests/support/expect_error.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

// Relative Frobenius weight error allowed at 8 bits, per method. GPTQ moves weights further than
// RTN on purpose (it trades weight error for output error), hence its wider bound.
const std::map<std::string, double> kEightBitTolerance = {{"rtn", 0.01}, {"gptq", 0.02}};

BlockStatistics block0_statistics(const LlamaWeights& w) {
  const Tokenizer tok = Tokenizer::from_file(test::tiny_model_dir() + "/tokenizer.json");
  const std::vector<int32_t> ids = tok.encode(read_file(test::tiny_corpus_dir() + "/train.txt"), false);
  at::Tensor batch = at::empty({8, 256}, at::kLong);
  for (int64_t i = 0; i < batch.numel(); ++i) batch.data_ptr<int64_t>()[i] = ids[i];
  c10::InferenceMode guard;
  BlockStatistics stats;
  std::vector<HessianAccumulator> acc;
  const int64_t ins[4] = {w.config.hidden_size, w.config.q_dim(), w.config.hidden_size, w.config.intermediate_size};
  for (int64_t in : ins) acc.emplace_back(in);
  block_forward(w.blocks[0], w.config, embed(w, batch), rope_tables(w.config, 256, at::kFloat),
                [&](LinearInput in, const at::Tensor& x) { acc[static_cast<int>(in)].add(x); });
  for (int i = 0; i < 4; ++i) stats.hessian[i] = acc[i].hessian();
  stats.sequences = 8;
  return stats;
}

TEST(Methods, EveryRegisteredMethodQuantizesABlockFaithfully) {
  LoadOptions opt;
  opt.end_block = 1;
  opt.head = false;
  const LlamaWeights w = load_llama(test::tiny_model_dir(), opt);
  const BlockStatistics stats = block0_statistics(w);
  const MethodRegistry& registry = MethodRegistry::builtin();
  ASSERT_FALSE(registry.names().empty());
  for (const std::string& name : registry.names()) {
    ASSERT_TRUE(kEightBitTolerance.count(name)) << "give method '" << name << "' an 8-bit tolerance here";
    for (int bits : {8, 3}) {
      YamlSection params = load_yaml_text("bits: " + std::to_string(bits) + "\ngroup_size: 128\n", "test.yaml");
      const auto method = registry.get(name).create(params);
      const auto block = method->quantize_block(w.blocks[0], stats, LinearSet::all());
      ASSERT_EQ(block.size(), 7u) << name;
      for (const BlockLinear& l : block_linears()) {
        const QuantizedLinear& q = block.at(l.module);
        const at::Tensor& orig = w.blocks[0].*l.weight;
        ASSERT_EQ(q.weight.sizes(), orig.sizes()) << name << " " << l.module;
        const at::Tensor idx = q.tensors.at("g_idx").to(at::kLong);
        const at::Tensor rebuilt = q.tensors.at("scale").index_select(1, idx) *
                                   (q.tensors.at("codes").to(at::kFloat) - q.tensors.at("zero").index_select(1, idx));
        EXPECT_TRUE(at::allclose(rebuilt, q.weight, 0, 1e-7)) << name << " " << l.module << ": artifact != weight";
        EXPECT_LE(q.tensors.at("codes").max().item<int64_t>(), (1 << bits) - 1) << name;
        const double rel = (q.weight - orig).norm().item<double>() / orig.norm().item<double>();
        if (bits == 8) {
          EXPECT_LE(rel, kEightBitTolerance.at(name)) << name << " " << l.module;
        } else {
          EXPECT_GT(rel, 0.01) << name << " " << l.module << ": 3 bits cannot be this exact";
        }
      }
    }
  }
}

// GPTQ's --true-sequential protocol, rebuilt by hand from the primitives: q/k/v from the original
// block's attention input; o from the attention output with q/k/v quantized; gate/up from the MLP
// input with q/k/v/o quantized; down last. calibrate_block must give exactly these codes.
TEST(Methods, TrueSequentialTakesEachGroupsHessianAfterTheGroupsBefore) {
  LoadOptions opt;
  opt.end_block = 1;
  opt.head = false;
  const LlamaWeights w = load_llama(test::tiny_model_dir(), opt);
  const Tokenizer tok = Tokenizer::from_file(test::tiny_model_dir() + "/tokenizer.json");
  const std::vector<int32_t> ids = tok.encode(read_file(test::tiny_corpus_dir() + "/train.txt"), false);
  at::Tensor batch = at::empty({6, 128}, at::kLong);
  for (int64_t i = 0; i < batch.numel(); ++i) batch.data_ptr<int64_t>()[i] = ids[i];
  c10::InferenceMode guard;
  const at::Tensor hidden = embed(w, batch);  // [6, 128, hidden]
  const RopeTables rope = rope_tables(w.config, 128, at::kFloat);
  GptqOptions g;
  g.quant.bits = 3;
  g.quant.group_size = 128;

  BlockWeights current = w.blocks[0];
  std::map<std::string, at::Tensor> expected;  // module -> codes
  for (LinearInput group : {LinearInput::Attention, LinearInput::AttentionOutput, LinearInput::Mlp, LinearInput::MlpDown}) {
    std::unique_ptr<HessianAccumulator> acc;
    forward_block(current, w.config, hidden, rope, 2, [&](LinearInput in, const at::Tensor& x) {
      if (in != group) return;
      if (!acc) acc = std::make_unique<HessianAccumulator>(x.size(-1));
      acc->add(x);
    });
    const at::Tensor h = acc->hessian();
    BlockWeights next = current;
    for (const BlockLinear& l : block_linears())
      if (l.input == group) {
        const GptqResult r = gptq_quantize(w.blocks[0].*l.weight, h, g);
        expected[l.module] = r.codes;
        next.*l.weight = r.weight;
      }
    current = next;
  }

  LayerLoopOptions loop;
  loop.micro_batch = 2;
  std::map<std::string, at::Tensor> kept;
  auto run = [&](bool true_sequential) {
    YamlSection p = load_yaml_text(std::string("bits: 3\ngroup_size: 128\ntrue_sequential: ") +
                                   (true_sequential ? "true" : "false") + "\n", "test.yaml");
    return calibrate_block(0, w.blocks[0], w.config, hidden, rope, *MethodRegistry::builtin().get("gptq").create(p), loop,
                           kept);
  };
  const auto sequential = run(true);
  const auto together = run(false);
  for (const BlockLinear& l : block_linears()) {
    EXPECT_TRUE(at::equal(sequential.at(l.module).tensors.at("codes"), expected.at(l.module))) << l.module;
    // The first group sees the same Hessian either way; every later group must differ.
    const bool same = at::equal(together.at(l.module).tensors.at("codes"), expected.at(l.module));
    EXPECT_EQ(same, l.input == LinearInput::Attention) << l.module;
  }
}

TEST(Methods, UnknownMethodIsRefusedListingTheKnownOnes) {
  EXPECT_LOWBIT_ERROR(MethodRegistry::builtin().get("awq"), {"'awq'", "not available", "gptq", "rtn"});
}

TEST(Methods, UnknownParameterIsRefusedWithFileAndLine) {
  YamlSection params = load_yaml_text("bits: 4\ngroupsize: 128\n", "exp.yaml");
  EXPECT_LOWBIT_ERROR(MethodRegistry::builtin().get("gptq").create(params), {"exp.yaml:2", "unknown key 'groupsize'"});
}

TEST(Methods, DuplicateRegistrationIsABug) {
  MethodRegistry r;
  register_rtn(r);
  EXPECT_THROW(register_rtn(r), Error);
}

}  // namespace
}  // namespace lowbit
