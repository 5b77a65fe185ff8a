// Every registered method, on block 0 of lowbit-tiny-llama3 with its calibration inputs and
// statistics from real text, through the driver's calibrate_block: what holds for all methods (see
// the first test). New methods are tested the day they are registered. Plus the registry's rules.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <sstream>

#include "framework/calibrate/layer_loop.h"
#include "framework/config/yaml_reader.h"
#include "framework/core/files.h"
#include "framework/model/tokenizer.h"
#include "methods/common/gptq_solver.h"
#include "methods/common/hessian.h"
#include "methods/method.h"
#include "framework/store/shard.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

// Each method's own example parameters: a high-precision setting and a low one. The registry test
// fails for a method registered without an entry here.
struct MethodExample {
  std::string high, low;  // YAML method sections (low "": the method has one precision)
  double high_tolerance;  // relative error of the block's output allowed at `high`
};
const std::map<std::string, MethodExample> kExamples = {
    {"rtn", {"bits: 8\ngroup_size: 128\n", "bits: 3\ngroup_size: 128\n", 0.01}},
    {"gptq", {"bits: 8\ngroup_size: 128\n", "bits: 3\ngroup_size: 128\n", 0.01}},
    {"awq", {"bits: 8\ngroup_size: 128\n", "bits: 3\ngroup_size: 128\n", 0.01}},
    {"smoothquant", {"bits: 8\na_bits: 8\n", "bits: 4\na_bits: 4\n", 0.05}},
    {"pb-llm", {"low_frac: 0.05\n", "bits: 1.7\n", 0.05}},
    {"billm", {"bits: 1.1\n", "", 0.6}},  // one precision: its structure sets the bits
    {"slim-llm", {"bits: 5\n", "bits: 2\n", 0.05}},
    // σ = 2.4 · RMS(W) clips the incoherent weights' tails at any width: ≈ 7 % at 8 bits.
    {"quip", {"bits: 8\n", "bits: 2\n", 0.1}},
    {"nf4", {"bits: 4\n", "", 0.1}},  // one precision: NF4 is 4 bits
    {"db-llm", {"epochs: 2\n", "", 0.5}},  // one precision: two binary planes (W2)
};

struct Block0 {
  LlamaWeights w;
  at::Tensor hidden;  // [8, 256, hidden]: block 0's inputs over real text
  RopeTables rope;
};
const Block0& block0() {
  static const Block0* b = [] {
    auto* out = new Block0();
    LoadOptions opt;
    opt.end_block = 1;
    opt.head = false;
    out->w = load_llama(test::tiny_model_dir(), opt);
    const Tokenizer tok = Tokenizer::from_file(test::tiny_model_dir() + "/tokenizer.json");
    const std::vector<int32_t> ids = tok.encode(read_file(test::tiny_corpus_dir() + "/train.txt"), false);
    at::Tensor batch = at::empty({8, 256}, at::kLong);
    for (int64_t i = 0; i < batch.numel(); ++i) batch.data_ptr<int64_t>()[i] = ids[i];
    c10::InferenceMode guard;
    out->hidden = embed(out->w, batch);
    out->rope = rope_tables(out->w.config, 256, at::kFloat);
    return out;
  }();
  return *b;
}

QuantizedBlock calibrate(const std::string& method, const std::string& yaml) {
  const Block0& b = block0();
  YamlSection params = load_yaml_text(yaml, "test.yaml");
  const auto m = MethodRegistry::builtin().get(method).create(params);
  LayerLoopOptions loop;
  loop.micro_batch = 2;
  loop.quantized_propagation = m->needs().propagation != "full_precision";
  std::map<std::string, at::Tensor> kept;
  c10::InferenceMode guard;
  return calibrate_block(0, b.w.blocks[0], b.w.config, b.hidden, b.rope, *m, loop, kept);
}

double output_error(const BlockWeights& q) {
  const Block0& b = block0();
  c10::InferenceMode guard;
  const at::Tensor ref = block_forward(b.w.blocks[0], b.w.config, b.hidden, b.rope) - b.hidden;
  const at::Tensor out = block_forward(q, b.w.config, b.hidden, b.rope) - b.hidden;
  return (out - ref).norm().item<double>() / ref.norm().item<double>();
}

// What holds for every method, whatever its artifacts: all seven linears, shapes of the model,
// finite weights; the block committed to a shard and read back is the same block bit for bit
// (through the format registry); the block's output close to the original at high precision and
// further at low; a bad parameter refused by name.
TEST(Methods, EveryRegisteredMethodQuantizesABlockFaithfully) {
  const MethodRegistry& registry = MethodRegistry::builtin();
  ASSERT_GE(registry.names().size(), 4u);
  const Block0& b = block0();
  for (const std::string& name : registry.names()) {
    ASSERT_TRUE(kExamples.count(name)) << "give method '" << name << "' example parameters here";
    const MethodExample& ex = kExamples.at(name);
    double errors[2] = {0, 0};
    for (int level = 0; level < (ex.low.empty() ? 1 : 2); ++level) {
      const QuantizedBlock fresh = calibrate(name, level == 0 ? ex.high : ex.low);
      ASSERT_EQ(fresh.linears.size(), 7u) << name;
      for (const BlockLinear& l : block_linears()) {
        const QuantizedLinear& q = fresh.linears.at(l.module);
        EXPECT_EQ(q.weight.sizes(), (b.w.blocks[0].*l.weight).sizes()) << name << " " << l.module;
        EXPECT_TRUE(q.weight.isfinite().all().item<bool>()) << name << " " << l.module;
        EXPECT_GT(q.bits_per_weight, q.format == "uniform" ? q.bits : 1.0) << name << " " << l.module;
      }
      test::TempDir dir;
      ShardHeader h;
      h.method = name;
      h.end_block = 1;
      {
        ShardWriter writer(dir.file("s.h5"), h);
        writer.commit_block(0, fresh);
      }
      const QuantizedBlock resumed = ShardReader(dir.file("s.h5")).read_block(0);
      ASSERT_EQ(resumed.linears.size(), 7u);
      for (const auto& [module, q] : fresh.linears)
        EXPECT_TRUE(at::equal(resumed.linears.at(module).weight, q.weight)) << name << " " << module;
      ASSERT_EQ(resumed.parameters.size(), fresh.parameters.size()) << name;
      for (const auto& [p, t] : fresh.parameters) EXPECT_TRUE(at::equal(resumed.parameters.at(p), t)) << name << " " << p;
      EXPECT_TRUE(resumed.activations == fresh.activations) << name;
      const BlockWeights applied = apply_quantized_block(b.w.blocks[0], resumed, name);
      errors[level] = output_error(applied);
    }
    EXPECT_LT(errors[0], ex.high_tolerance) << name << ": block output error at " << ex.high;
    if (!ex.low.empty()) {
      EXPECT_GT(errors[1], 2 * errors[0]) << name << ": low precision should be clearly worse";
    }
    YamlSection bad = load_yaml_text("bits: 99\n", "bad.yaml");
    EXPECT_LOWBIT_ERROR(registry.get(name).create(bad), {"bad.yaml", "method.bits", "99"});
    YamlSection unknown = load_yaml_text("no_such_key: 1\n", "bad.yaml");
    EXPECT_LOWBIT_ERROR(registry.get(name).create(unknown), {"bad.yaml:1", "unknown key 'no_such_key'"});
  }
}

// The uniform artifact decodes to its weight: scale[:, g_idx] * (codes - zero[:, g_idx]), codes in range.
TEST(Methods, UniformArtifactsDecodeToTheirWeights) {
  for (const std::string name : {"rtn", "gptq", "awq", "smoothquant"}) {
    const QuantizedBlock block = calibrate(name, kExamples.at(name).low);
    for (const auto& [module, q] : block.linears) {
      ASSERT_EQ(q.format, "uniform");
      const at::Tensor idx = q.tensors.at("g_idx").to(at::kLong);
      const at::Tensor rebuilt = q.tensors.at("scale").index_select(1, idx) *
                                 (q.tensors.at("codes").to(at::kFloat) - q.tensors.at("zero").index_select(1, idx));
      EXPECT_TRUE(at::equal(rebuilt, q.weight)) << name << " " << module;
      EXPECT_LE(q.tensors.at("codes").max().item<int64_t>(), (1 << q.bits) - 1) << name;
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
    EXPECT_TRUE(at::equal(sequential.linears.at(l.module).tensors.at("codes"), expected.at(l.module))) << l.module;
    // The first group sees the same Hessian either way; every later group must differ.
    const bool same = at::equal(together.linears.at(l.module).tensors.at("codes"), expected.at(l.module));
    EXPECT_EQ(same, l.input == LinearInput::Attention) << l.module;
  }
}

TEST(Methods, UnknownMethodIsRefusedListingTheKnownOnes) {
  EXPECT_LOWBIT_ERROR(MethodRegistry::builtin().get("omniquant"), {"'omniquant'", "not available", "awq", "db-llm", "gptq", "quip", "rtn", "smoothquant"});
}

TEST(Methods, UnknownParameterIsRefusedWithFileAndLine) {
  YamlSection params = load_yaml_text("bits: 4\ngroupsize: 128\n", "exp.yaml");
  EXPECT_LOWBIT_ERROR(MethodRegistry::builtin().get("gptq").create(params), {"exp.yaml:2", "unknown key 'groupsize'"});
}

// NF4 with ICQ refuses, before anything runs, a model whose linears do not hold whole multiples of
// 16384 weights (ICQ's τ scale spans 256 blocks of 64); without ICQ the same model is accepted.
TEST(Methods, Nf4IcqRefusesLinearsNotAMultipleOf16384Weights) {
  LlamaConfig c = block0().w.config;
  c.intermediate_size = 700;  // gate/up/down: 700 x 256 = 179200 weights
  YamlSection icq = load_yaml_text("icq: true\n", "exp.yaml");
  EXPECT_LOWBIT_ERROR(MethodRegistry::builtin().get("nf4").create(icq)->check_model(c, "exp.yaml"),
                      {"exp.yaml", "mlp.gate_proj", "179200 weights", "16384"});
  YamlSection plain = load_yaml_text("double_quant: true\n", "exp.yaml");
  MethodRegistry::builtin().get("nf4").create(plain)->check_model(c, "exp.yaml");  // no throw
}

// SliM-LLM's saved bit map: read and checked when the method is made (widths in 1..8 averaging
// method.bits) and against the model before anything runs (every block and linear, one width per
// group); a valid map's widths are the block's widths.
TEST(Methods, SlimLlmBitMapIsCheckedThenUsed) {
  test::TempDir dir;
  const Block0& b = block0();
  const LlamaConfig& c = b.w.config;
  auto map_json = [&](int down_first) {  // every block: 2 2 for 256-wide inputs; down_proj's 6 groups vary
    std::ostringstream j;
    j << "{";
    for (int64_t k = 0; k < c.num_hidden_layers; ++k) {
      j << (k ? ", " : "") << '"' << k << "\": {";
      bool first = true;
      for (const BlockLinear& l : block_linears()) {
        j << (first ? "" : ", ") << '"' << l.module << "\": ";
        if (std::string(l.module) == "mlp.down_proj") j << "[" << down_first << ", 3, 2, 2, 2, 2]";
        else j << "[2, 2]";
        first = false;
      }
      j << "}";
    }
    j << "}";
    return j.str();
  };
  auto make = [&](const std::string& json) {
    test::write_file(dir.file("map.json"), json);
    YamlSection p = load_yaml_text("bits: 2\nbit_map: " + dir.file("map.json") + "\n", "exp.yaml");
    return MethodRegistry::builtin().get("slim-llm").create(p);
  };
  EXPECT_LOWBIT_ERROR(make(map_json(3)), {"map.json", "0.mlp.down_proj", "widths average 2.33", "not method.bits 2"});
  EXPECT_LOWBIT_ERROR(make("{\"0\": {\"self_attn.q_proj\": [2, 9]}}"), {"map.json", "width 9 is not an integer in 1..8"});
  EXPECT_LOWBIT_ERROR(make("{\"0\": {\"self_attn.q_proj\": [2, 2]}}")->check_model(c, "exp.yaml"),
                      {"map.json: block 0 self_attn.k_proj", "not in the bit map"});
  EXPECT_LOWBIT_ERROR(make(map_json(1))->check_model([&] { LlamaConfig wide = c; wide.intermediate_size = 1024; return wide; }(), "exp.yaml"),
                      {"map.json: block 0 mlp.down_proj", "6 widths for 8 groups"});
  make(map_json(1))->check_model(c, "exp.yaml");
  const QuantizedBlock q = calibrate("slim-llm", "bits: 2\nbit_map: " + dir.file("map.json") + "\n");
  const at::Tensor down = q.linears.at("mlp.down_proj").tensors.at("group_bits").to(at::kLong);
  EXPECT_TRUE(at::equal(down, at::tensor(std::vector<int64_t>{1, 3, 2, 2, 2, 2})));
  EXPECT_TRUE(at::equal(q.linears.at("self_attn.q_proj").tensors.at("group_bits").to(at::kLong),
                        at::tensor(std::vector<int64_t>{2, 2})));
}

TEST(Methods, DuplicateRegistrationIsABug) {
  MethodRegistry r;
  register_rtn(r);
  EXPECT_THROW(register_rtn(r), Error);
}

}  // namespace
}  // namespace lowbit
