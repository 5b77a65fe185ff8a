// The CUDA path against the CPU path on lowbit-tiny-llama3 (ctest label `cuda`; run on a GPU
// machine by benchmarks/device/check.sh). Without a visible GPU every test is reported SKIPPED with
// the reason, never passed.
//  - forward: cuda vs cpu logits, relative error ≤ 1e-5 in fp32 and ≤ 1e-3 in bf16;
//  - every registered method on a block on cuda vs the same block on cpu: ≥ 99.9 % identical codes;
//  - GPTQ's device route on cuda vs the CPU solver's reference route: ≥ 99.9 % identical codes;
//  - evaluation: perplexity windows and shared-context multiple-choice requests through the
//    pipeline scorer, log-likelihoods cuda vs cpu ≤ 1e-4 relative;
//  - 2 ranks sharing one GPU (backend mpi) give the shards of 1 rank (runs made by the cuda.mpi_*
//    ctest fixtures);
//  - LoRA with IEC: the training loss and every adapter gradient cuda vs cpu ≤ 1e-4 relative (fp32).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>


#include <cstdlib>

#include "evaluation/pipeline_scorer.h"
#include "framework/core/device.h"
#include "framework/config/yaml_reader.h"
#include "framework/core/files.h"
#include "framework/dist/communicator.h"
#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"
#include "framework/train/causal_lm.h"
#include "framework/train/distillation_loss.h"
#include "framework/train/dual_binary_student.h"
#include "framework/train/lora.h"
#include "methods/common/dual_binary.h"
#include "methods/common/gptq_solver.h"
#include "methods/common/hessian.h"
#include "framework/calibrate/layer_loop.h"
#include "methods/method.h"
#include "tests/support/run_blocks.h"
#include "tests/support/test_paths.h"
#include "tests/support/tiny_model_blocks.h"

namespace lowbit {
namespace {

// LOWBIT_CUDA_TESTS_ON_CPU=1 runs these tests with the CPU standing in for the GPU: a check of the
// tests themselves on a machine without one (the numbers then compare CPU with CPU).
bool on_cpu_instead() { return std::getenv("LOWBIT_CUDA_TESTS_ON_CPU") != nullptr; }

#define REQUIRE_GPU()                                                                                   \
  do {                                                                                                  \
    if (cuda_device_count() == 0 && !on_cpu_instead())                                                  \
      GTEST_SKIP() << "no CUDA device visible (this build has CUDA parts: "                            \
                   << (LOWBIT_TEST_HAS_CUDA_PARTS ? "yes" : "no") << "); run on a GPU machine";        \
  } while (0)

const c10::Device kCuda = on_cpu_instead() ? c10::Device(c10::kCPU) : c10::Device(c10::kCUDA, 0);

LlamaWeights tiny(c10::Device device, c10::ScalarType dtype, bool head = true, int64_t end_block = -1) {
  LoadOptions o;
  o.device = device;
  o.dtype = dtype;
  o.head = head;
  o.end_block = end_block;
  return load_llama(test::tiny_model_dir(), o);
}

at::Tensor random_ids(int64_t batch, int64_t seq, int64_t vocab) {
  at::Generator g = at::detail::createCPUGenerator(7);
  return at::randint(vocab, {batch, seq}, g, at::kLong);
}

double relative_error(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.cpu().to(at::kDouble), y = b.cpu().to(at::kDouble);
  return ((x - y).norm() / y.norm()).item<double>();
}

double identical_fraction(const at::Tensor& a, const at::Tensor& b) {
  return a.cpu().eq(b.cpu()).to(at::kDouble).mean().item<double>();
}

TEST(CudaForward, LogitsMatchCpuInFp32AndBf16) {
  REQUIRE_GPU();
  c10::InferenceMode guard;
  for (const auto& [dtype, tolerance] : {std::pair{at::kFloat, 1e-5}, std::pair{at::kBFloat16, 1e-3}}) {
    const LlamaWeights cpu = tiny(c10::kCPU, dtype), gpu = tiny(kCuda, dtype);
    const at::Tensor ids = random_ids(2, 128, cpu.config.vocab_size);
    const at::Tensor a = forward(gpu, ids), b = forward(cpu, ids);
    ASSERT_EQ(a.device(), kCuda);
    EXPECT_LE(relative_error(a, b), tolerance) << c10::toString(dtype);
  }
}

TEST(CudaLora, AdapterGradientsMatchCpu) {
  REQUIRE_GPU();
  LoraConfig lc;
  lc.r = 8;
  lc.iec = true;
  std::vector<at::Tensor> grads[2];
  double losses[2] = {0, 0};
  for (int side = 0; side < 2; ++side) {
    const c10::Device device = side == 0 ? c10::Device(c10::kCPU) : kCuda;
    LlamaWeights w = tiny(device, at::kFloat);
    const LoraModel lora = LoraModel::init(w.config, lc, 5, device);
    for (const Parameter& p : lora.parameters()) {  // B and β nonzero, identically on both sides
      at::Tensor v = p.value;
      if (p.name.find("lora_B") != std::string::npos)
        v.copy_(at::randn(v.sizes(), at::detail::createCPUGenerator(11)) * 0.02);
      if (p.name.find("scale") != std::string::npos) v.fill_(0.1);
    }
    lora.attach(w);
    const at::Tensor ids = random_ids(2, 64, w.config.vocab_size);
    std::vector<Parameter> params = lora.parameters();
    for (Parameter& p : params) p.value.requires_grad_(true);
    const at::Tensor loss = causal_lm_loss(w, {ids.narrow(1, 0, 63).contiguous().to(device),
                                               ids.narrow(1, 1, 63).contiguous().to(device)});
    loss.backward();
    losses[side] = loss.item<double>();
    for (const Parameter& p : params) grads[side].push_back(p.value.grad().cpu());
  }
  EXPECT_NEAR(losses[1], losses[0], 1e-5 * losses[0]);
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (std::size_t i = 0; i < grads[0].size(); ++i) EXPECT_LE(relative_error(grads[1][i], grads[0][i]), 1e-4) << i;
}

// DB-LLM stage 2 (lowbit distill): the student's logits and every α gradient of the DAD loss on the GPU
// against the CPU, from the same FDB-initialized planes and scales of the small model.
TEST(CudaDistill, StudentScaleGradientsMatchCpu) {
  REQUIRE_GPU();
  std::vector<at::Tensor> grads[2];
  double losses[2] = {0, 0};
  const LlamaWeights cpu_model = tiny(c10::kCPU, at::kFloat);
  std::vector<QuantizedBlock> blocks;
  for (const BlockWeights& b : cpu_model.blocks) {
    QuantizedBlock q;
    for (const BlockLinear& l : block_linears()) {
      const at::Tensor alpha = fdb_initial_alpha(b.*l.weight, 128);
      q.linears.emplace(l.module, dual_binary_linear(fdb_assign(b.*l.weight, alpha, 128), alpha, 128, l.module));
    }
    blocks.push_back(std::move(q));
  }
  const at::Tensor ids = random_ids(2, 64, cpu_model.config.vocab_size);
  for (int side = 0; side < 2; ++side) {
    const c10::Device device = side == 0 ? c10::Device(c10::kCPU) : kCuda;
    const LlamaWeights teacher = tiny(device, at::kFloat);
    const DualBinaryStudent student(teacher, [&](int64_t b) { return blocks[static_cast<std::size_t>(b)]; }, "test");
    std::vector<Parameter> params = student.parameters();
    for (Parameter& p : params) p.value.requires_grad_(true);
    const at::Tensor t = forward(teacher, ids.to(device)), s = student.logits(ids.to(device));
    const int64_t v = t.size(-1);
    const at::Tensor loss = distillation_loss(t.reshape({-1, v}), s.reshape({-1, v}),
                                              at::ones({ids.numel()}, at::TensorOptions(device).dtype(at::kBool)),
                                              DistillationLoss::Dad);
    loss.backward();
    losses[side] = loss.item<double>();
    for (const Parameter& p : params) grads[side].push_back(p.value.grad().cpu());
  }
  EXPECT_NEAR(losses[1], losses[0], 1e-4 * losses[0]);
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (std::size_t i = 0; i < grads[0].size(); ++i) EXPECT_LE(relative_error(grads[1][i], grads[0][i]), 1e-3) << i;
}

// Block 0's statistics from random tokens, on `device` (fp32 weights).
BlockStatistics block0_statistics(const LlamaWeights& w) {
  const c10::Device device = w.blocks[0].q.device();
  const LlamaConfig& c = w.config;
  std::vector<HessianAccumulator> acc;
  for (int64_t in : {c.hidden_size, c.q_dim(), c.hidden_size, c.intermediate_size}) acc.emplace_back(in, device);
  const at::Tensor ids = random_ids(4, 256, c.vocab_size);
  block_forward(w.blocks[0], c, embed(w, ids), rope_tables(c, 256, at::kFloat, device),
                [&](LinearInput in, const at::Tensor& x) { acc[static_cast<int>(in)].add(x); });
  BlockStatistics s;
  for (int i = 0; i < 4; ++i) s.hessian[i] = acc[i].hessian();
  s.sequences = 4;
  return s;
}

TEST(CudaMethods, EveryRegisteredMethodAgreesWithCpuOnABlock) {
  REQUIRE_GPU();
  c10::InferenceMode guard;
  const LlamaWeights cpu = tiny(c10::kCPU, at::kFloat, false, 1), gpu = tiny(kCuda, at::kFloat, false, 1);
  const LlamaConfig& c = cpu.config;
  const at::Tensor ids = random_ids(4, 256, c.vocab_size);
  const at::Tensor x_cpu = embed(cpu, ids), x_gpu = embed(gpu, ids);  // [4, 256, hidden]
  const RopeTables rope_cpu = rope_tables(c, 256, at::kFloat), rope_gpu = rope_tables(c, 256, at::kFloat, kCuda);
  const std::map<std::string, std::string> params = {{"rtn", "bits: 4\ngroup_size: 128\n"},
                                                     {"gptq", "bits: 4\ngroup_size: 128\n"},
                                                     {"awq", "bits: 4\ngroup_size: 128\n"},
                                                     {"smoothquant", "bits: 8\na_bits: 8\n"},
                                                     {"pb-llm", "bits: 1.7\n"},
                                                     {"billm", "bits: 1.1\n"},
                                                     {"slim-llm", "bits: 3\n"},
                                                     {"quip", "bits: 4\n"},
                                                     {"nf4", "icq: true\n"},
                                                     {"db-llm", "epochs: 1\n"}};
  const MethodRegistry& registry = MethodRegistry::builtin();
  for (const std::string& name : registry.names()) {
    ASSERT_TRUE(params.count(name)) << "give method '" << name << "' parameters here";
    YamlSection p = load_yaml_text(params.at(name), "test");
    const std::unique_ptr<Method> m = registry.get(name).create(p);
    LayerLoopOptions loop;
    loop.micro_batch = 2;
    std::map<std::string, at::Tensor> kept;
    // The whole driver step on each device: statistics, context, method.
    const QuantizedBlock a = calibrate_block(0, gpu.blocks[0], c, x_gpu, rope_gpu, *m, loop, kept);
    const QuantizedBlock b = calibrate_block(0, cpu.blocks[0], c, x_cpu, rope_cpu, *m, loop, kept);
    ASSERT_EQ(a.linears.size(), b.linears.size()) << name;
    for (const auto& [module, q] : b.linears) {
      const QuantizedLinear& g = a.linears.at(module);
      EXPECT_EQ(g.weight.device(), kCuda) << name << " " << module;
      for (const auto& [t_name, t] : q.tensors) {  // every integer decision (codes, masks, signs, widths)
        if (at::isFloatingType(t.scalar_type()) || t_name == "g_idx") continue;
        EXPECT_GE(identical_fraction(g.tensors.at(t_name), t), 0.99) << name << " " << module << " " << t_name;
      }
      EXPECT_LE(relative_error(g.weight, q.weight), 1e-2) << name << " " << module;
    }
    for (const auto& [p_name, t] : b.parameters)
      EXPECT_LE(relative_error(a.parameters.at(p_name), t), 1e-3) << name << " " << p_name;
  }
}

TEST(CudaGptq, DeviceRouteMatchesTheCpuReferenceRoute) {
  REQUIRE_GPU();
  c10::InferenceMode guard;
  const LlamaWeights cpu = tiny(c10::kCPU, at::kFloat, false, 1);
  const BlockStatistics stats = block0_statistics(cpu);
  for (const BlockLinear& l : block_linears()) {
    const at::Tensor w = cpu.blocks[0].*l.weight, h = stats.hessian[static_cast<int>(l.input)];
    GptqOptions o;
    o.quant = {4, 128, false};
    o.factorization = GptqFactorization::Reference;
    const GptqResult ref = gptq_quantize(w, h, o);  // the row-tiled solver
    o.route = GptqRoute::Aten;                       // what Auto picks on a GPU
    const GptqResult dev = gptq_quantize(w.to(kCuda), h.to(kCuda), o);
    ASSERT_EQ(dev.codes.device(), kCuda) << l.module;
    EXPECT_GE(identical_fraction(dev.codes, ref.codes), 0.999) << l.module;
    EXPECT_LE(relative_error(dev.weight, ref.weight), 1e-3) << l.module;
  }
}

TEST(CudaEval, PerplexityLogLikelihoodsMatchCpu) {
  REQUIRE_GPU();
  const LlamaWeights cpu = tiny(c10::kCPU, at::kFloat), gpu = tiny(kCuda, at::kFloat);
  const at::Tensor ids = random_ids(6, 200, cpu.config.vocab_size).to(at::kInt);
  std::vector<ScoreRequest> requests;
  for (int64_t i = 0; i < ids.size(0); ++i) {
    ScoreRequest r;
    r.ids.assign(ids[i].data_ptr<int32_t>(), ids[i].data_ptr<int32_t>() + ids.size(1) - 17 * i);  // lengths differ
    r.score_from = 1;
    requests.push_back(std::move(r));
  }
  // Multiple-choice questions: 4 endings sharing a context, scored through the shared-context path
  // (the prefix's keys/values kept per block, the endings packed under a mask).
  for (int64_t q = 0; q < 3; ++q) {
    const int32_t* ctx = ids[q].data_ptr<int32_t>();
    for (int64_t e = 0; e < 4; ++e) {
      ScoreRequest r;
      r.ids.assign(ctx, ctx + 40 + 13 * q);
      r.score_from = static_cast<int64_t>(r.ids.size());
      const int32_t* ending = ids[3 + e % 3].data_ptr<int32_t>() + 7 * e;
      r.ids.insert(r.ids.end(), ending, ending + 3 + 2 * e);
      requests.push_back(std::move(r));
    }
  }
  ScoreOptions o;
  o.micro_batch = 4;
  const std::vector<ScoreResult> a = score_requests(gpu, single_rank(), requests, o);
  const std::vector<ScoreResult> b = score_requests(cpu, single_rank(), requests, o);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i].logprob, b[i].logprob, 1e-4 * std::abs(b[i].logprob)) << i;
}

// The runs of the cuda.mpi_quantize_* fixtures: GPTQ W4 g128 with device cuda on 1 rank, and on
// 2 ranks sharing the GPU (backend auto -> mpi: NCCL refuses a shared GPU).
TEST(CudaPipeline, TwoRanksSharingOneGpuGiveTheShardsOfOneRank) {
  REQUIRE_GPU();
  const std::string dir = LOWBIT_TEST_CUDA_RUNS_DIR;
  test::expect_identical_runs(dir + "/np1", dir + "/np2", test::tiny_model_blocks());
  const std::string manifest = read_file(dir + "/np2/manifest.json");
  EXPECT_NE(manifest.find("\"world_size\": 2"), std::string::npos);
}

}  // namespace
}  // namespace lowbit
