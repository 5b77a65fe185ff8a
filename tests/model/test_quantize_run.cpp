// `lowbit quantize` end to end on lowbit-tiny-llama3 (one process): GPTQ beats RTN in perplexity
// through the whole pipeline; two runs give bitwise identical shards; a run killed after a block
// and restarted ends with the same shards as an uninterrupted one; a run directory of another
// config is refused; a missing calibration file is named.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "evaluation/perplexity.h"
#include "framework/calibrate/quantize_run.h"
#include "framework/core/file_lock.h"
#include "framework/core/files.h"
#include "framework/model/safetensors_writer.h"
#include "framework/model/tokenizer.h"
#include "framework/store/shard.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_paths.h"
#include "tests/support/tiny_model_blocks.h"

namespace lowbit {
namespace {

// `extra`: more lines of the method section (e.g. "  a_bits: 8\n"); `group` "" omits group_size.
// `bits` as the config writes it ("2", "1.1").
std::string experiment(const test::TempDir& dir, const std::string& method, double bits,
                       const std::string& propagation = "quantized", const std::string& extra = "",
                       const std::string& group = "128", const std::string& tag = "") {
  std::ostringstream label;
  label << bits;
  const std::string name = method + label.str() + tag;
  const std::string yaml = "model: " + test::tiny_model_dir() + "\nmethod:\n  name: " + method +
                           "\n  bits: " + label.str() + "\n" +
                           (group.empty() ? "" : "  group_size: " + group + "\n") + extra +
                           "calibration:\n  source: " + test::tiny_corpus_dir() + "/train.txt\n"
                           "  nsamples: 16\n  seq_len: 256\n  seed: 0\n"
                           "distributed:\n  micro_batch: 4\n  propagation: " + propagation + "\n"
                           "output:\n  run_dir: " + dir.file(name) + "\n";
  const std::string path = dir.file(name + ".yaml");
  test::write_file(path, yaml);
  return path;
}

std::string shard_of(const QuantizeResult& r) { return r.run_dir + "/shards/" + shard_file_name(0, 1); }

// `activations`: apply the run's forward spec (as evaluation does), or drop it (weights alone).
double test_perplexity(const QuantizeResult& r, bool activations = true) {
  LlamaWeights w = load_llama(test::tiny_model_dir());
  const ShardReader shard(shard_of(r));
  for (int64_t b = 0; b < w.config.num_hidden_layers; ++b) {
    w.blocks[b] = apply_quantized_block(w.blocks[b], shard.read_block(b), shard.path());
    if (!activations) w.blocks[b].act = ActivationQuant{};
  }
  const Tokenizer tok = Tokenizer::from_file(test::tiny_model_dir() + "/tokenizer.json");
  return perplexity(w, tok.encode(read_file(test::tiny_corpus_dir() + "/test.txt"), false), 256, 8, 32).perplexity;
}

void expect_same_shards(const QuantizeResult& a, const QuantizeResult& b) {
  const ShardReader ra(shard_of(a)), rb(shard_of(b));
  ASSERT_EQ(ra.committed_blocks(), rb.committed_blocks());
  for (int64_t block : ra.committed_blocks()) {
    const auto qa = ra.read_block(block), qb = rb.read_block(block);
    for (const auto& [module, q] : qa.linears)
      for (const auto& [name, t] : q.tensors)
        EXPECT_TRUE(at::equal(t, qb.linears.at(module).tensors.at(name))) << "block " << block << " " << module << " " << name;
  }
}

// `method` at `bits` g128 (with the propagation its reference uses) against `other` (RTN unless
// given) at `other_bits` g128 (the same bits unless given), test perplexity through the whole pipeline.
void expect_beats(const std::string& method, double bits, const std::string& propagation = "quantized",
                  const std::string& other = "rtn", int other_bits = 0) {
  test::TempDir dir;
  if (other_bits == 0) other_bits = static_cast<int>(bits);
  const double ours = test_perplexity(quantize_run(ExperimentConfig::from_yaml(experiment(dir, method, bits, propagation))));
  const double theirs = test_perplexity(quantize_run(ExperimentConfig::from_yaml(experiment(dir, other, other_bits))));
  std::printf("test perplexity, g128: %s %g bits %.3f, %s %d bits %.3f\n", method.c_str(), bits, ours, other.c_str(),
              other_bits, theirs);
  EXPECT_LT(ours, theirs) << method << " at " << bits << " bits against " << other << " at " << other_bits;
}
void expect_beats_rtn(const std::string& method, int bits, const std::string& propagation = "quantized") {
  expect_beats(method, bits, propagation);
}

TEST(QuantizeRun, GptqBeatsRtnThroughThePipeline) { expect_beats_rtn("gptq", 3); }

// AWQ (full-precision propagation, its reference's protocol) beats RTN at W3 and W4 g128.
TEST(QuantizeRun, AwqBeatsRtnAtThreeAndFourBits) {
  for (int bits : {3, 4}) expect_beats_rtn("awq", bits, "full_precision");
}

// PB-LLM at the paper's "2 bits" (low_frac 6/7, 8-bit salient weights) beats RTN W2 g128 through the
// pipeline (the study's finding for its ultra-low-bit rows).
TEST(QuantizeRun, PbLlmTwoBitsBeatsRtnTwoBits) { expect_beats_rtn("pb-llm", 2); }

// BiLLM (the paper's "1.1 bits") beats RTN W2 g128 through the pipeline.
TEST(QuantizeRun, BillmBeatsRtnTwoBits) { expect_beats("billm", 1.1, "quantized", "rtn", 2); }

// SliM-LLM at 2 bits (widths 1/2/3 by group) beats RTN W2 g128 and GPTQ W2 g128 (the study's finding).
TEST(QuantizeRun, SlimLlmTwoBitsBeatsRtnAndGptqTwoBits) {
  expect_beats("slim-llm", 2);
  expect_beats("slim-llm", 2, "quantized", "gptq", 2);
}

double fp_perplexity() {
  const LlamaWeights w = load_llama(test::tiny_model_dir());
  const Tokenizer tok = Tokenizer::from_file(test::tiny_model_dir() + "/tokenizer.json");
  return perplexity(w, tok.encode(read_file(test::tiny_corpus_dir() + "/test.txt"), false), 256, 8, 32).perplexity;
}

// QuIP without groups (the study's rows): W2 beats RTN W2 and GPTQ W2 per channel -- what
// incoherence processing is for -- and W4 stays within 3 % of full precision.
TEST(QuantizeRun, QuipTwoBitsBeatsRtnAndGptqPerChannelAndFourBitsIsClose) {
  test::TempDir dir;
  auto run = [&](const std::string& method, int bits) {
    return test_perplexity(quantize_run(ExperimentConfig::from_yaml(experiment(dir, method, bits, "quantized", "", "0"))));
  };
  const double fp = fp_perplexity(), quip2 = run("quip", 2), rtn2 = run("rtn", 2), gptq2 = run("gptq", 2),
               quip4 = run("quip", 4);
  std::printf("test perplexity, per channel: FP %.3f, QuIP W2 %.3f, RTN W2 %.3f, GPTQ W2 %.3f, QuIP W4 %.3f\n", fp,
              quip2, rtn2, gptq2, quip4);
  EXPECT_LT(quip2, rtn2);
  EXPECT_LT(quip2, gptq2);
  EXPECT_LT(std::abs(quip4 - fp) / fp, 0.03);
}

// SmoothQuant W8A8 stays within 2 % of full precision, W4A4 is clearly worse, and the activation
// quantization is part of what is evaluated: the same weights without it give another perplexity.
TEST(QuantizeRun, SmoothQuantW8A8IsCloseW4A4IsNotAndActivationsAreQuantizedInEvaluation) {
  test::TempDir dir;
  const double fp = fp_perplexity();
  const QuantizeResult w8a8 =
      quantize_run(ExperimentConfig::from_yaml(experiment(dir, "smoothquant", 8, "full_precision", "  a_bits: 8\n", "")));
  const QuantizeResult w4a4 =
      quantize_run(ExperimentConfig::from_yaml(experiment(dir, "smoothquant", 4, "full_precision", "  a_bits: 4\n", "")));
  const double p8 = test_perplexity(w8a8), p4 = test_perplexity(w4a4);
  const double p8_weights_only = test_perplexity(w8a8, false), p4_weights_only = test_perplexity(w4a4, false);
  std::printf("test perplexity: FP %.3f, SmoothQuant W8A8 %.3f (weights alone %.3f), W4A4 %.3f (weights alone %.3f)\n",
              fp, p8, p8_weights_only, p4, p4_weights_only);
  EXPECT_LT(std::abs(p8 - fp) / fp, 0.02);
  EXPECT_GT(p4, 1.2 * p8);
  EXPECT_NE(p8, p8_weights_only);
  EXPECT_GT(p4, p4_weights_only);  // 4-bit activations cost more than 4-bit weights alone
}

// Methods that gather statistics from the full-precision model refuse quantized propagation,
// naming the key and the reason, before anything is created.
TEST(QuantizeRun, MethodRequiringFullPrecisionPropagationRefusesQuantized) {
  test::TempDir dir;
  const ExperimentConfig cfg = ExperimentConfig::from_yaml(experiment(dir, "awq", 4, "quantized"));
  EXPECT_LOWBIT_ERROR(quantize_run(cfg), {"key 'distributed.propagation' is 'quantized'", "method 'awq' requires "
                                          "'full_precision'", "full-precision model"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("awq4")));
}

TEST(QuantizeRun, TwoRunsGiveBitwiseIdenticalShards) {
  test::TempDir a, b;
  const QuantizeResult ra = quantize_run(ExperimentConfig::from_yaml(experiment(a, "gptq", 4)));
  const QuantizeResult rb = quantize_run(ExperimentConfig::from_yaml(experiment(b, "gptq", 4)));
  expect_same_shards(ra, rb);
}

TEST(QuantizeRun, RunKilledAfterABlockResumesToIdenticalShards) {
  test::TempDir a, b;
  const QuantizeResult full = quantize_run(ExperimentConfig::from_yaml(experiment(a, "gptq", 4)));
  const ExperimentConfig cfg = ExperimentConfig::from_yaml(experiment(b, "gptq", 4));
  const QuantizeResult killed = quantize_run(cfg, /*stop_after_block=*/1);
  EXPECT_TRUE(killed.manifest.empty());
  const QuantizeResult resumed = quantize_run(cfg);
  EXPECT_EQ(resumed.blocks_resumed, 2);
  EXPECT_EQ(resumed.blocks_computed, test::tiny_model_blocks() - 2);
  EXPECT_FALSE(resumed.manifest.empty());
  expect_same_shards(full, resumed);
}

TEST(QuantizeRun, RunDirectoryOfAnotherConfigIsRefused) {
  test::TempDir dir;
  const ExperimentConfig cfg = ExperimentConfig::from_yaml(experiment(dir, "gptq", 4));
  quantize_run(cfg, 0);
  const ExperimentConfig other = ExperimentConfig::from_yaml(experiment(dir, "gptq", 4), {"method.bits=3"});
  EXPECT_LOWBIT_ERROR(quantize_run(other), {"rank-00000-of-00001.h5", "'method_config'", "another run"});
}

// Full-precision propagation: a second run of the same model and calibration reads the Hessians
// the first one stored instead of gathering them, and its shards equal a run without the cache.
TEST(QuantizeRun, StatisticsCacheIsSharedBetweenFullPrecisionRuns) {
  test::TempDir dir;
  const std::string cache = dir.file("stats");
  auto run = [&](const std::string& name, int bits, bool cached) {
    std::vector<std::string> o = {"distributed.propagation=full_precision", "method.bits=" + std::to_string(bits),
                                  "output.run_dir=" + dir.file(name)};
    if (cached) o.push_back("output.statistics_cache=" + cache);
    return quantize_run(ExperimentConfig::from_yaml(experiment(dir, "gptq", 4), o));
  };
  run("w4", 4, true);
  std::vector<std::filesystem::path> files;
  for (const auto& d : std::filesystem::recursive_directory_iterator(cache))
    if (d.is_regular_file()) files.push_back(d.path());
  ASSERT_EQ(static_cast<int64_t>(files.size()), test::tiny_model_blocks())
      << "one statistics file per block";
  std::vector<std::filesystem::file_time_type> stamps;
  for (const auto& f : files) stamps.push_back(std::filesystem::last_write_time(f));
  const QuantizeResult cached = run("w3_cached", 3, true);
  const QuantizeResult plain = run("w3_plain", 3, false);
  expect_same_shards(cached, plain);
  for (std::size_t i = 0; i < files.size(); ++i) EXPECT_EQ(std::filesystem::last_write_time(files[i]), stamps[i]);
  // The cache is really read: a file of other fingerprints stops the run, naming it.
  const std::string block0 = files[0].parent_path().string() + "/block-00000.safetensors";
  const at::Tensor h = at::eye(4);
  write_safetensors(block0, {{"attention/hessian", DType::F32, {4, 4}, h.data_ptr()}},
                    {{"model_fingerprint", "0000"}, {"calibration_fingerprint", "0000"}});
  EXPECT_LOWBIT_ERROR(run("w2", 2, true), {"block-00000.safetensors", "another model or calibration set"});
}

// A setting the model's shapes cannot take is refused before anything is created, so the corrected
// config is not then refused as "another run".
TEST(QuantizeRun, GroupSizeNotDividingTheInputsIsRefusedBeforeAnythingIsCreated) {
  test::TempDir dir;
  const std::string yaml = experiment(dir, "gptq", 4);
  EXPECT_LOWBIT_ERROR(quantize_run(ExperimentConfig::from_yaml(yaml, {"method.group_size=100"})),
                      {yaml, "'method.group_size'", "100 does not divide", "inputs"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("gptq4"))) << "a refused set-up created the run directory";
  const QuantizeResult r = quantize_run(ExperimentConfig::from_yaml(yaml), 0);
  EXPECT_EQ(r.blocks_computed, 1);
}

// A shard left by a set-up that failed after creating it (no committed block) is replaced by the
// corrected run; one with a committed block stays "another run" (RunDirectoryOfAnotherConfigIsRefused).
TEST(QuantizeRun, ShardWithoutCommittedBlocksOfAnotherConfigIsReplaced) {
  test::TempDir dir;
  const std::string yaml = experiment(dir, "gptq", 4);
  std::filesystem::create_directories(dir.file("gptq4/shards"));
  ShardHeader other;
  other.method = "rtn";
  other.method_config = "bits: 2\n";
  other.end_block = 1;
  { ShardWriter w(dir.file("gptq4/shards/") + shard_file_name(0, 1), other); }
  const QuantizeResult r = quantize_run(ExperimentConfig::from_yaml(yaml), 0);
  EXPECT_EQ(r.blocks_computed, 1);
  EXPECT_EQ(ShardReader(shard_of(r)).header().method, "gptq");
}

// One quantize per run directory: a second one finds the lock and is refused, naming the holder,
// without touching the shards.
TEST(QuantizeRun, RunDirectoryInUseIsRefused) {
  test::TempDir dir;
  const std::string yaml = experiment(dir, "gptq", 4);
  quantize_run(ExperimentConfig::from_yaml(yaml), 0);
  const std::string shard = dir.file("gptq4/shards/") + shard_file_name(0, 1);
  const std::string before = test::read_file(shard);
  {
    const FileLock other(dir.file("gptq4/.lowbit-quantize.lock"), "lowbit quantize (another job)");
    EXPECT_LOWBIT_ERROR(quantize_run(ExperimentConfig::from_yaml(yaml)),
                        {".lowbit-quantize.lock", "locked by lowbit quantize (another job)", "still running"});
  }
  EXPECT_EQ(test::read_file(shard), before);
  const QuantizeResult r = quantize_run(ExperimentConfig::from_yaml(yaml));  // free again: resumes
  EXPECT_EQ(r.blocks_resumed, 1);
  EXPECT_FALSE(std::filesystem::exists(dir.file("gptq4/.lowbit-quantize.lock")));
}

TEST(QuantizeRun, MissingCalibrationFileIsNamed) {
  test::TempDir dir;
  const ExperimentConfig cfg =
      ExperimentConfig::from_yaml(experiment(dir, "rtn", 4), {"calibration.source=/nonexistent/train.txt"});
  EXPECT_LOWBIT_ERROR(quantize_run(cfg), {"'calibration.source'", "/nonexistent/train.txt"});
}

}  // namespace
}  // namespace lowbit
