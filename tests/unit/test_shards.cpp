// HDF5 shards: a committed block reads back bit for bit; a half-written block is dropped when the
// run resumes; a shard of another run, a truncated file or a foreign HDF5 file is refused naming
// the file and the field.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <filesystem>
#include <limits>

#include "framework/config/yaml_reader.h"
#include "framework/store/hdf5_file.h"
#include "framework/store/shard.h"
#include "methods/billm.h"
#include "methods/common/artifact_formats.h"
#include "methods/pb_llm.h"
#include "methods/slim_llm.h"
#include "tests/support/expect_error.h"
#include "tests/support/method_calls.h"
#include "tests/support/temp_dir.h"

namespace lowbit {
namespace {

LlamaConfig small_config() {
  LlamaConfig c;
  c.hidden_size = 64, c.intermediate_size = 128, c.num_hidden_layers = 2, c.num_attention_heads = 4;
  c.num_key_value_heads = 2, c.head_dim = 16, c.vocab_size = 32, c.max_position_embeddings = 64;
  return c;
}

ShardHeader header() {
  ShardHeader h;
  h.method = "rtn";
  h.method_config = "bits: 3\ngroup_size: 32\n";
  h.model_fingerprint = "model-abc";
  h.calibration_fingerprint = "calib-xyz";
  h.rank = 1, h.world_size = 2, h.first_block = 1, h.end_block = 2;
  h.build_version = "test";
  return h;
}

QuantizedBlock quantized_block(const LlamaWeights& w, int b) {
  YamlSection p = load_yaml_text(header().method_config, "test");
  return test::quantize_data_free(*MethodRegistry::builtin().get("rtn").create(p), w.blocks[b], w.config, b);
}

// `block` committed as block 1 of a fresh shard in `dir`, then its mlp.up_proj read back.
QuantizedLinear round_trip(const test::TempDir& dir, const QuantizedBlock& block) {
  {
    ShardWriter writer(dir.file("s.h5"), header());
    writer.commit_block(1, block);
  }
  return ShardReader(dir.file("s.h5")).read_block(1).linears.at("mlp.up_proj");
}

TEST(Shards, CommittedBlockReadsBackBitForBit) {
  test::TempDir dir;
  const LlamaWeights w = init_llama(small_config(), 7);
  const auto block = quantized_block(w, 1);
  const at::Tensor hessian = at::randn({64, 64});
  {
    ShardWriter writer(dir.file("s.h5"), header());
    writer.commit_block(1, block, {{"attention/hessian", hessian}});
  }
  ShardReader reader(dir.file("s.h5"));
  EXPECT_EQ(reader.header().model_fingerprint, "model-abc");
  EXPECT_EQ(reader.header().end_block, 2);
  EXPECT_EQ(reader.committed_blocks(), (std::vector<int64_t>{1}));
  const auto back = reader.read_block(1);
  ASSERT_EQ(back.linears.size(), 7u);
  for (const auto& [module, q] : block.linears) {
    EXPECT_TRUE(at::equal(back.linears.at(module).weight, q.weight)) << module;
    EXPECT_TRUE(at::equal(back.linears.at(module).tensors.at("codes"), q.tensors.at("codes"))) << module;
    EXPECT_EQ(back.linears.at(module).bits, 3);
    EXPECT_EQ(back.linears.at(module).group_size, 32);
    EXPECT_DOUBLE_EQ(back.linears.at(module).bits_per_weight, 3 + (16.0 + 3) / 32);  // fp16 scale + 3-bit zero per 32
  }
  EXPECT_TRUE(back.parameters.empty());
  EXPECT_FALSE(back.activations.enabled());
  EXPECT_TRUE(at::equal(reader.read_stats(1).at("attention/hessian"), hessian));
}

TEST(Shards, HalfWrittenBlockIsDroppedOnResume) {
  test::TempDir dir;
  const LlamaWeights w = init_llama(small_config(), 7);
  {
    ShardWriter writer(dir.file("s.h5"), header());
    writer.commit_block(0, quantized_block(w, 0));
  }
  {  // what a rank killed in the middle of block 1 leaves behind: datasets, no commit mark
    h5::File f = h5::File::open(dir.file("s.h5"), true);
    f.ensure_group("/blocks/1/self_attn.q_proj");
    f.write_tensor("/blocks/1/self_attn.q_proj/codes", at::zeros({64, 64}, at::kByte));
  }
  ShardWriter resumed(dir.file("s.h5"), header());
  EXPECT_EQ(resumed.committed_blocks(), (std::vector<int64_t>{0}));
  resumed.commit_block(1, quantized_block(w, 1));  // rewritable from scratch
  EXPECT_EQ(resumed.committed_blocks(), (std::vector<int64_t>{0, 1}));
}

TEST(Shards, ShardOfAnotherModelIsRefused) {
  test::TempDir dir;
  {  // with a committed block: a shard without one holds nothing and is replaced (next test)
    ShardWriter writer(dir.file("s.h5"), header());
    writer.commit_block(1, quantized_block(init_llama(small_config(), 7), 1));
  }
  ShardHeader other = header();
  other.model_fingerprint = "model-def";
  EXPECT_LOWBIT_ERROR(ShardWriter(dir.file("s.h5"), other), {"s.h5", "'model_fingerprint'", "another run"});
  other = header();
  other.world_size = 3;
  EXPECT_LOWBIT_ERROR(ShardWriter(dir.file("s.h5"), other), {"s.h5", "'world_size' is 2, this run has 3"});
}

TEST(Shards, TruncatedShardIsRefused) {
  test::TempDir dir;
  const LlamaWeights w = init_llama(small_config(), 7);
  {
    ShardWriter writer(dir.file("s.h5"), header());
    writer.commit_block(1, quantized_block(w, 1));
  }
  std::filesystem::resize_file(dir.file("s.h5"), 1000);
  try {
    ShardReader reader(dir.file("s.h5"));
    reader.read_block(1);
    ADD_FAILURE() << "a truncated shard was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("s.h5"), std::string::npos) << e.what();
  }
}

TEST(Shards, HdfFileThatIsNotAShardIsRefused) {
  test::TempDir dir;
  { h5::File::create(dir.file("other.h5")).set_attr("/", "format", std::string("something-else")); }
  EXPECT_LOWBIT_ERROR(ShardReader(dir.file("other.h5")), {"other.h5", "'format'", "not a lowbit shard"});
  test::write_file(dir.file("text.h5"), "hello");
  EXPECT_LOWBIT_ERROR(ShardReader(dir.file("text.h5")), {"text.h5", "not a readable HDF5 file"});
}

TEST(Shards, FileNamesNameRankAndWorld) { EXPECT_EQ(shard_file_name(3, 8), "rank-00003-of-00008.h5"); }

TEST(Shards, ShardOfAnotherConfigWithoutCommittedBlocksIsReplaced) {
  test::TempDir dir;
  { ShardWriter writer(dir.file("s.h5"), header()); }
  ShardHeader other = header();
  other.method_config = "bits: 4\ngroup_size: 32\n";
  testing::internal::CaptureStderr();
  { ShardWriter writer(dir.file("s.h5"), other); }
  EXPECT_NE(testing::internal::GetCapturedStderr().find("replacing a shard"), std::string::npos);
  EXPECT_EQ(ShardReader(dir.file("s.h5")).header().method_config, other.method_config);
}

// Artifacts are checked before anything of a block is written: a NaN scale (a method gone wrong)
// or a statistic with an Inf is refused naming the linear or statistic, and the block stays absent.
TEST(Shards, NonFiniteArtifactOrStatisticIsRefusedBeforeCommit) {
  test::TempDir dir;
  const LlamaWeights w = init_llama(small_config(), 7);
  auto block = quantized_block(w, 1);
  block.linears.at("mlp.up_proj").tensors.at("scale")[0][0] = std::numeric_limits<float>::quiet_NaN();
  ShardWriter writer(dir.file("s.h5"), header());
  EXPECT_LOWBIT_ERROR(writer.commit_block(1, block), {"block 1 mlp.up_proj", "scale is not finite and positive"});
  const auto good = quantized_block(w, 1);
  at::Tensor h = at::eye(64);
  h[3][3] = std::numeric_limits<float>::infinity();
  EXPECT_LOWBIT_ERROR(writer.commit_block(1, good, {{"attention/hessian", h}}),
                      {"block 1 statistic attention/hessian", "not finite"});
  EXPECT_TRUE(writer.committed_blocks().empty());
  writer.commit_block(1, good);  // nothing of the refused attempts is in the way
  EXPECT_EQ(writer.committed_blocks(), (std::vector<int64_t>{1}));
}

// Interface v2: a block's replaced parameters and its forward spec are stored with its linears and
// come back equal; a parameter that is not finite is refused before anything is written.
TEST(Shards, ReplacedParametersAndForwardSpecReadBack) {
  test::TempDir dir;
  const LlamaWeights w = init_llama(small_config(), 7);
  QuantizedBlock block = quantized_block(w, 1);
  block.parameters["input_layernorm.weight"] = at::rand({64}) + 0.5;
  block.parameters["post_attention_layernorm.weight"] = at::rand({64}) + 0.5;
  block.activations.bits = 6;
  block.activations.quantize_qkv_outputs = true;
  ShardWriter writer(dir.file("s.h5"), header());
  QuantizedBlock bad = block;
  bad.parameters["input_layernorm.weight"] = at::full({64}, std::numeric_limits<float>::infinity());
  EXPECT_LOWBIT_ERROR(writer.commit_block(1, bad), {"block 1 parameter input_layernorm.weight", "not finite"});
  EXPECT_TRUE(writer.committed_blocks().empty());
  writer.commit_block(1, block);
  const QuantizedBlock back = ShardReader(dir.file("s.h5")).read_block(1);
  ASSERT_EQ(back.parameters.size(), 2u);
  for (const auto& [name, t] : block.parameters) EXPECT_TRUE(at::equal(back.parameters.at(name), t)) << name;
  EXPECT_TRUE(back.activations == block.activations);
  EXPECT_EQ(back.linears.size(), 7u);
  // Applied to the model's block: the norms replaced, the spec carried, the linears dequantized.
  const BlockWeights applied = apply_quantized_block(w.blocks[1], back, "test");
  EXPECT_TRUE(at::equal(applied.input_norm, block.parameters.at("input_layernorm.weight")));
  EXPECT_EQ(applied.act.bits, 6);
  EXPECT_TRUE(at::equal(applied.down, back.linears.at("mlp.down_proj").weight));
  QuantizedBlock unknown = back;
  unknown.parameters["mlp.gate_proj.bias"] = at::zeros({4});
  EXPECT_LOWBIT_ERROR(apply_quantized_block(w.blocks[1], unknown, "where"),
                      {"where", "'mlp.gate_proj.bias' is not a block parameter"});
}

// The binary_planes format (PB-LLM): round trip through a shard, and its checks refuse a sign
// outside {-1, 0, +1} or where the mask is 0, and a salient scale that is not positive.
TEST(Shards, BinaryPlanesRoundTripAndAreChecked) {
  test::TempDir dir;
  at::manual_seed(4);
  const at::Tensor w = at::randn({64, 128}) * 0.05, x = at::randn({512, 128});
  PbLlmOptions o;
  const QuantizedLinear q = pb_llm_quantize(w, 0.5 * x.t().matmul(x), o, "test");
  QuantizedBlock block;
  block.linears["mlp.up_proj"] = q;
  const QuantizedLinear back = round_trip(dir, block);
  EXPECT_EQ(back.format, "binary_planes");
  EXPECT_TRUE(at::equal(back.weight, q.weight));
  EXPECT_DOUBLE_EQ(back.bits_per_weight, q.bits_per_weight);
  auto refused = [&](const std::string& dataset, auto&& spoil, const std::string& why) {
    QuantizedBlock bad = block;
    QuantizedLinear& l = bad.linears.at("mlp.up_proj");
    l.tensors[dataset] = l.tensors.at(dataset).clone();
    spoil(l.tensors[dataset]);
    ShardWriter writer(dir.file("bad.h5"), header());
    EXPECT_LOWBIT_ERROR(writer.commit_block(1, bad), {"mlp.up_proj", why});
  };
  refused("planes.sign", [](at::Tensor& t) { t.view(-1)[0] = 2; }, "planes.sign holds values other than");
  refused("planes.sign", [&](at::Tensor& t) {
    const int64_t salient = (q.tensors.at("planes.mask").view(-1) == 0).nonzero()[0][0].item<int64_t>();
    t.view(-1)[salient] = 1;
  }, "or a sign where the mask is 0");
  refused("salient.scale", [](at::Tensor& t) { t.view(-1)[0] = -1; }, "out of range");
}

// BiLLM's four planes round-trip too, and both methods' bits per weight count every stored bit:
// signs, salient codes, fp16 (α, μ) per plane and (row, group), the salient part's per-row scale
// and zero, and which planes apply (PB-LLM: 1 bit per weight; BiLLM: its split, 1 bit per weight,
// and its salient columns, 1 bit per column).
TEST(Shards, BinaryPlanesBitsPerWeightCountEveryStoredBit) {
  test::TempDir dir;
  at::manual_seed(5);
  const at::Tensor w = at::randn({64, 256}) * 0.05, x = at::randn({512, 256});
  const at::Tensor h = 0.5 * x.t().matmul(x);
  const double out = 64, in = 256, numel = out * in;
  const QuantizedLinear pb = pb_llm_quantize(w, h, PbLlmOptions{}, "test");
  const double binarized = pb.tensors.at("planes.mask").sum().item<double>();
  EXPECT_DOUBLE_EQ(pb.bits_per_weight, (binarized + (numel - binarized) * 8 + 2 * 16 * out * 2 + out * (16 + 8) + numel) / numel);
  const QuantizedLinear bi = billm_quantize(w, h, BillmOptions{}, "test");
  const at::Tensor m = bi.tensors.at("planes.mask");  // [4, out, in]
  const double salient_columns = m[2].select(0, 0).sum().item<double>();
  EXPECT_TRUE(at::equal(m[2], m[3]));
  EXPECT_TRUE(at::equal(m[0] + m[1] + m[2], at::ones({64, 256}, m.options())));
  EXPECT_DOUBLE_EQ(bi.bits_per_weight, (numel + salient_columns * out + 2 * 16 * 4 * out * 2 + numel + in) / numel);
  // Width histograms: PB-LLM 1 bit where binarized, 8 elsewhere; BiLLM 2 sign bits on salient columns.
  EXPECT_EQ(artifact_widths(pb), (std::map<int, double>{{1, binarized / numel}, {8, 1 - binarized / numel}}));
  EXPECT_EQ(artifact_widths(bi), (std::map<int, double>{{1, 1 - salient_columns / in}, {2, salient_columns / in}}));
  QuantizedBlock block;
  block.linears["mlp.up_proj"] = bi;
  const QuantizedLinear back = round_trip(dir, block);
  EXPECT_TRUE(at::equal(back.weight, bi.weight));
  EXPECT_DOUBLE_EQ(back.bits_per_weight, bi.bits_per_weight);
  // The eight one-byte planes are deflated in the file: well under their 8 bytes per weight.
  EXPECT_LT(static_cast<double>(std::filesystem::file_size(dir.file("s.h5"))), 8 * numel / 2);  // about 1/3 here
}

// SliM-LLM's mixed_uniform artifacts: round trip through a shard; bits per weight counted by hand
// (each group's width, an fp16 scale and a b-bit zero per (row, group), fp16 alpha and mu for 1-bit
// groups, a byte per group for its width); a code beyond its group's width and a 1-bit code 3 are
// refused.
TEST(Shards, MixedUniformRoundTripsCountsItsBitsAndIsChecked) {
  test::TempDir dir;
  at::manual_seed(6);
  const at::Tensor w = at::randn({64, 512}) * 0.05, x = at::randn({1024, 512});
  SlimLlmOptions o;
  o.bits = 2;
  const QuantizedLinear q = slim_llm_quantize(w, 0.5 * x.t().matmul(x), o, 1, "test");  // widths 1, 2, 2, 3 in some order
  const at::Tensor widths = q.tensors.at("group_bits").to(at::kLong);
  std::vector<int64_t> w_list(widths.data_ptr<int64_t>(), widths.data_ptr<int64_t>() + widths.numel());
  double per_row = 0;
  for (int64_t b : w_list) per_row += 128.0 * b + 16 + (b == 1 ? 16 : b);
  std::sort(w_list.begin(), w_list.end());
  ASSERT_EQ(w_list, (std::vector<int64_t>{1, 2, 2, 3}));
  EXPECT_DOUBLE_EQ(q.bits_per_weight, (per_row * 64 + 8 * 4) / (64.0 * 512));
  EXPECT_EQ(artifact_widths(q), (std::map<int, double>{{1, 0.25}, {2, 0.5}, {3, 0.25}}));
  QuantizedBlock block;
  block.linears["mlp.up_proj"] = q;
  const QuantizedLinear back = round_trip(dir, block);
  EXPECT_EQ(back.format, "mixed_uniform");
  EXPECT_TRUE(at::equal(back.weight, q.weight));
  EXPECT_DOUBLE_EQ(back.bits_per_weight, q.bits_per_weight);
  const int64_t one_bit = (widths == 1).nonzero()[0][0].item<int64_t>(), two_bit = (widths == 2).nonzero()[0][0].item<int64_t>();
  for (const auto& [column, code] : {std::pair{one_bit * 128, 3}, std::pair{two_bit * 128, 4}}) {
    QuantizedBlock bad = block;
    QuantizedLinear& l = bad.linears.at("mlp.up_proj");
    l.tensors["codes"] = l.tensors.at("codes").clone();
    l.tensors["codes"][0][column] = code;
    ShardWriter writer(dir.file("bad.h5"), header());
    EXPECT_LOWBIT_ERROR(writer.commit_block(1, bad), {"mlp.up_proj", "codes exceed their group's largest code"});
  }
}

}  // namespace
}  // namespace lowbit
