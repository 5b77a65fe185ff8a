// The runs the mpirun fixtures made (tests/CMakeLists.txt): lowbit-tiny-llama3 quantized with GPTQ
// W4 g128 on 1, 2 and 3 ranks (RTN W3 g128 and GPTQ W2 per-channel on 1 and 3; AWQ W3 g128 and
// SmoothQuant W8A8, PB-LLM 2-bit, BiLLM, SliM-LLM 2-bit, QuIP W2 and NF4 + ICQ on 1 and 3), and on 2
// ranks with rank 0 killed after a block and the run started again (GPTQ, and each of those: their
// two-rank check, a run whose blocks are computed partly before the kill and partly after). In `propagation: quantized` every quantized tensor must be bitwise
// identical across all of them, and the manifests must describe the shards. In `full_precision` propagation (ranks
// calibrating concurrently) 1 and 3 ranks must agree too.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "framework/core/files.h"
#include "methods/common/incoherent_format.h"
#include "methods/quip.h"
#include "tests/support/run_blocks.h"
#include "tests/support/test_paths.h"
#include "tests/support/tiny_model_blocks.h"

namespace lowbit {
namespace {

std::string run_dir(const std::string& name) { return std::string(LOWBIT_TEST_MPI_RUNS_DIR) + "/" + name; }

using test::blocks_of;

void expect_identical(const std::string& a, const std::string& b) {
  test::expect_identical_runs(run_dir(a), run_dir(b), test::tiny_model_blocks());
}

TEST(MpiWorldSizes, OneTwoAndThreeRanksGiveBitwiseIdenticalShards) {
  expect_identical("np1", "np2");
  expect_identical("np1", "np3");
}

TEST(MpiWorldSizes, RtnW3AndGptqW2PerChannelAreIdenticalOnOneAndThreeRanks) {
  expect_identical("rtn3_np1", "rtn3_np3");
  expect_identical("gptq2pc_np1", "gptq2pc_np3");
  // And they are what they claim: 3-bit codes, 2-bit per-channel codes.
  EXPECT_LE(blocks_of(run_dir("rtn3_np1")).at(0).linears.at("mlp.up_proj").tensors.at("codes").max().item<int64_t>(), 7);
  const auto pc = blocks_of(run_dir("gptq2pc_np1")).at(0).linears.at("mlp.up_proj");
  EXPECT_LE(pc.tensors.at("codes").max().item<int64_t>(), 3);
  EXPECT_EQ(pc.tensors.at("scale").size(1), 1);
}

TEST(MpiWorldSizes, ManifestsListOneShardPerRankCoveringEveryBlock) {
  for (int np : {1, 2, 3}) {
    const std::string run = run_dir("np" + std::to_string(np));
    const nlohmann::json m = parse_json_object(read_file(run + "/manifest.json"), run);
    ASSERT_EQ(m.at("shards").size(), static_cast<std::size_t>(np));
    int64_t next = 0;
    for (const auto& s : m.at("shards")) {
      EXPECT_EQ(s.at("first_block").get<int64_t>(), next);
      next = s.at("end_block").get<int64_t>();
    }
    EXPECT_EQ(next, test::tiny_model_blocks());
  }
}

TEST(MpiKill, RankKilledAfterABlockThenRerunGivesIdenticalShards) { expect_identical("np2", "np2_killed"); }

// Interface v2 methods: AWQ (scales folded into the norms) and SmoothQuant (norms and a forward
// spec) give the same artifacts, parameters and specs on any world size and after a killed rank.
TEST(MpiWorldSizes, AwqAndSmoothQuantAreIdenticalOnOneAndThreeRanks) {
  for (const char* tag : {"awq3", "sq8"}) {  // two ranks: the killed-and-resumed run below
    expect_identical(std::string(tag) + "_np1", std::string(tag) + "_np3");
  }
  const auto awq = blocks_of(run_dir("awq3_np1")), sq = blocks_of(run_dir("sq8_np1"));
  EXPECT_EQ(awq.at(0).parameters.size(), 2u);  // the two folded norms
  EXPECT_FALSE(awq.at(0).activations.enabled());
  EXPECT_EQ(sq.at(0).activations.bits, 8);
  EXPECT_TRUE(sq.at(0).activations.quantize_qkv_outputs);
}

// PB-LLM's binary planes and salient part, BiLLM's four planes and SliM-LLM's mixed widths (its count
// search a second pass over the block's samples), through quantized propagation, on any world size.
TEST(MpiWorldSizes, PbLlmBillmAndSlimLlmAreIdenticalOnOneAndThreeRanks) {
  for (const char* tag : {"pb2", "billm", "slim2"}) {  // two ranks: the killed-and-resumed run below
    expect_identical(std::string(tag) + "_np1", std::string(tag) + "_np3");
    EXPECT_EQ(blocks_of(run_dir(std::string(tag) + "_np1")).at(0).linears.at("mlp.up_proj").format,
              std::string(tag) == "slim2" ? "mixed_uniform" : "binary_planes");
  }
}

TEST(MpiKill, AwqSmoothQuantPbLlmBillmAndSlimLlmRankKilledAfterABlockThenRerunGivesIdenticalShards) {
  expect_identical("awq3_np1", "awq3_np2_killed");
  expect_identical("sq8_np1", "sq8_np2_killed");
  expect_identical("pb2_np1", "pb2_np2_killed");
  expect_identical("billm_np1", "billm_np2_killed");
  expect_identical("slim2_np1", "slim2_np2_killed");
}

// QuIP W2: codes, scales and transforms identical on any world size and after a killed rank; each
// linear's stored U and V are what (seed 0, block, module) draws afresh.
TEST(MpiWorldSizes, QuipIsIdenticalOnOneTwoAndThreeRanksAndAfterAKilledRank) {
  expect_identical("quip2_np1", "quip2_np3");
  expect_identical("quip2_np1", "quip2_np2_killed");
}

TEST(MpiWorldSizes, QuipTransformsRegenerateFromSeedBlockAndModule) {
  const auto blocks = blocks_of(run_dir("quip2_np3"));
  ASSERT_EQ(static_cast<int64_t>(blocks.size()), test::tiny_model_blocks());
  for (const auto& [block, q] : blocks)
    for (const auto& [module, linear] : q.linears) {
      ASSERT_EQ(linear.format, "incoherent") << module;
      const at::Tensor& codes = linear.tensors.at("codes");
      const auto [u, v] = quip_transforms(0, block, module, codes.size(0), codes.size(1));
      for (const auto& [which, fresh] : {std::pair<char, const Butterfly*>{'u', &u}, {'v', &v}}) {
        const Butterfly stored = incoherent_transform(linear, which);
        const std::string where = "block " + std::to_string(block) + " " + module + " " + which;
        EXPECT_TRUE(at::equal(stored.perm_in, fresh->perm_in)) << where;
        EXPECT_TRUE(at::equal(stored.perm_out, fresh->perm_out)) << where;
        EXPECT_TRUE(at::equal(stored.blocks[0], fresh->blocks[0])) << where;
        EXPECT_TRUE(at::equal(stored.blocks[1], fresh->blocks[1])) << where;
      }
      // Another block or module draws other transforms.
      const auto [u_next, v_next] = quip_transforms(0, block + 1, module, codes.size(0), codes.size(1));
      EXPECT_FALSE(at::equal(u.perm_in, u_next.perm_in)) << module;
    }
}

// NF4 with ICQ (data-free: its bytes and τ depend on the weights alone): identical on any world
// size and after a killed rank, and what it claims (the nf4 format with τ).
TEST(MpiWorldSizes, Nf4WithIcqIsIdenticalOnOneTwoAndThreeRanksAndAfterAKilledRank) {
  expect_identical("nf4icq_np1", "nf4icq_np3");
  expect_identical("nf4icq_np1", "nf4icq_np2_killed");
  const auto up = blocks_of(run_dir("nf4icq_np1")).at(0).linears.at("mlp.up_proj");
  EXPECT_EQ(up.format, "nf4");
  EXPECT_EQ(up.tensors.count("tau1"), 1u);
}

TEST(MpiWorldSizes, DbLlmIsIdenticalOnOneTwoAndThreeRanksAndAfterAKilledRank) {
  // Block-wise training (stage 1): every block's training sees the same inputs on any world size.
  expect_identical("dbllm_np1", "dbllm_np3");
  expect_identical("dbllm_np1", "dbllm_np2_killed");
  const auto blocks = blocks_of(run_dir("dbllm_np1"));
  EXPECT_EQ(blocks.at(2).linears.at("mlp.down_proj").format, "dual_binary");
}

TEST(MpiWorldSizes, FullPrecisionPropagationWithConcurrentRanksMatchesOneRank) { expect_identical("fp_np1", "fp_np3"); }

TEST(MpiWorldSizes, QuantizedAndFullPrecisionPropagationDiffer) {
  // Block 0 sees the same inputs either way; later blocks see quantized vs original activations.
  const auto q = blocks_of(run_dir("np1")), f = blocks_of(run_dir("fp_np1"));
  EXPECT_TRUE(at::equal(q.at(0).linears.at("mlp.up_proj").weight, f.at(0).linears.at("mlp.up_proj").weight));
  const int64_t last = test::tiny_model_blocks() - 1;
  EXPECT_FALSE(at::equal(q.at(last).linears.at("mlp.up_proj").weight, f.at(last).linears.at("mlp.up_proj").weight));
}

}  // namespace
}  // namespace lowbit
