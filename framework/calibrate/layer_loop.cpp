#include "framework/calibrate/layer_loop.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "framework/core/error.h"
#include "framework/model/llama_forward.h"
#include "framework/calibrate/statistics_cache.h"
#include "framework/store/shard.h"
#include "methods/common/hessian.h"

namespace lowbit {
namespace {

const std::vector<LinearInput> kAllInputs = {LinearInput::Attention, LinearInput::AttentionOutput, LinearInput::Mlp,
                                             LinearInput::MlpDown};

// Running per-channel |x| statistics of one linear input, in fp32 on the block's device.
struct AbsAccumulator {
  at::Tensor max, sum;  // [in]
  int64_t tokens = 0;
  void add(const at::Tensor& x, bool want_max, bool want_sum) {  // x [n, L, in]
    const at::Tensor a = x.reshape({-1, x.size(-1)}).abs().to(at::kFloat);  // [tokens, in]
    if (want_max) {
      const at::Tensor m = a.amax(0);
      max = max.defined() ? at::maximum(max, m) : m;
    }
    if (want_sum) {
      const at::Tensor s = a.sum(0);
      sum = sum.defined() ? sum + s : s;
    }
    tokens += a.size(0);
  }
};

}  // namespace

BlockStatistics gather_block_statistics(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& hidden,
                                  const RopeTables& rope, int64_t micro, const std::vector<LinearInput>& inputs,
                                  const MethodNeeds& needs) {
  BlockStatistics stats;
  if (needs.statistics.empty()) return stats;
  const bool hessian = needs.needs(Statistic::Hessian), abs_max = needs.needs(Statistic::AbsMax),
             abs_mean = needs.needs(Statistic::AbsMean), hessian_f64 = needs.needs(Statistic::HessianF64);
  std::vector<std::unique_ptr<HessianAccumulator>> acc(4), acc64(4);
  std::vector<std::unique_ptr<AbsAccumulator>> abs(4);
  for (LinearInput in : inputs) {  // fp32 on the block's device, whatever the activations' dtype
    const int k = static_cast<int>(in);
    if (hessian) acc[k] = std::make_unique<HessianAccumulator>(linear_input_size(c, in), hidden.device());
    if (hessian_f64)
      acc64[k] = std::make_unique<HessianAccumulator>(linear_input_size(c, in), hidden.device(),
                                                      HessianAccumulator::Kind::QuipSumF64);
    if (abs_max || abs_mean) abs[k] = std::make_unique<AbsAccumulator>();
  }
  const LinearInputObserver observe = [&](LinearInput in, const at::Tensor& x) {
    const int k = static_cast<int>(in);
    if (acc[k]) acc[k]->add(x);
    if (acc64[k]) acc64[k]->add(x);
    if (abs[k]) abs[k]->add(x, abs_max, abs_mean);
  };
  for (int64_t s = 0; s < hidden.size(0); s += micro)  // the outputs are not needed: none are kept
    block_forward(b, c, hidden.narrow(0, s, std::min(micro, hidden.size(0) - s)), rope, observe);
  for (int k = 0; k < 4; ++k) {
    if (acc[k]) stats.hessian[k] = acc[k]->hessian();
    if (acc64[k]) stats.hessian_f64[k] = acc64[k]->hessian();
    if (abs[k] && abs_max) stats.abs_max[k] = abs[k]->max;
    if (abs[k] && abs_mean) stats.abs_mean[k] = abs[k]->sum / static_cast<double>(abs[k]->tokens);
  }
  stats.sequences = hidden.size(0);
  return stats;
}

namespace {

// The statistics a method will use must be finite: a NaN there comes from the block's inputs, and
// a solver would fail on it far from the cause (or commit NaN grids).
void check_finite(const BlockStatistics& stats, int64_t block) {
  for (Statistic kind : all_statistics())
    for (int k = 0; k < 4; ++k)
      LOWBIT_CHECK(!stats.of(kind)[k].defined() || stats.of(kind)[k].isfinite().all().item<bool>(), "block ", block,
                   ": the ", kind == Statistic::Hessian ? "Hessian" : statistic_name(kind), " of the '", linear_input_name(static_cast<LinearInput>(k)),
                   "' input is not finite: the block's calibration activations contain NaN/Inf (with bfloat16 or "
                   "float16 activations they may overflow: try distributed.activations: float32)");
}

}  // namespace

// Quantizes one block. With true_sequential (the reference's --true-sequential), the linears are
// quantized group by group in forward order -- q/k/v, o, gate/up, down -- each group's statistics
// gathered with the groups before it already quantized; otherwise all statistics come from one pass
// of the original block.
QuantizedBlock calibrate_block(int64_t block_index, const BlockWeights& bw, const LlamaConfig& c,
                               const at::Tensor& hidden, const RopeTables& rope, const Method& method,
                               const LayerLoopOptions& opt, std::map<std::string, at::Tensor>& kept) {
  const MethodNeeds needs = method.needs();
  // Kept in the shard's /stats: the channel vectors always (a few KB), Hessians when asked (large).
  auto keep = [&](const BlockStatistics& stats) {
    for (Statistic kind : all_statistics()) {
      if (is_hessian(kind) && !opt.keep_hessians) continue;
      for (int k = 0; k < 4; ++k)
        if (stats.of(kind)[k].defined())
          kept[std::string(linear_input_name(static_cast<LinearInput>(k))) + "/" + statistic_name(kind)] =
              stats.of(kind)[k];
    }
  };
  if (!needs.true_sequential) {
    // With full-precision inputs the statistics depend only on model and calibration: shareable.
    const bool shared = !needs.statistics.empty() && !opt.quantized_propagation && opt.statistics_cache &&
                        opt.statistics_cache->enabled();
    std::optional<BlockStatistics> cached;
    if (shared) cached = opt.statistics_cache->load(block_index, needs.statistics);
    if (cached)  // read into host memory; the method works on the block's device
      for (Statistic kind : all_statistics())
        for (at::Tensor& t : cached->of(kind))
          if (t.defined()) t = t.to(hidden.device());
    const BlockStatistics stats =
        cached ? *cached : gather_block_statistics(bw, c, hidden, rope, opt.micro_batch, kAllInputs, needs);
    check_finite(stats, block_index);
    if (shared && !cached) opt.statistics_cache->store(block_index, stats);
    keep(stats);
    const BlockContext ctx(block_index, bw, c, hidden, rope, opt.micro_batch, stats);
    return method.quantize_block(ctx, LinearSet::all());
  }
  QuantizedBlock quantized;
  for (LinearInput in : kAllInputs) {
    const BlockWeights current = apply_quantized_block(bw, quantized, "block " + std::to_string(block_index));
    const BlockStatistics stats = gather_block_statistics(current, c, hidden, rope, opt.micro_batch, {in}, needs);
    check_finite(stats, block_index);
    keep(stats);
    const BlockContext ctx(block_index, bw, c, hidden, rope, opt.micro_batch, stats);
    quantized.merge(method.quantize_block(ctx, LinearSet::only(in)));
  }
  return quantized;
}

at::Tensor forward_block(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& hidden, const RopeTables& rope,
                         int64_t micro, const LinearInputObserver& observe,
                         const std::function<void(const at::Tensor&)>& on_chunk) {
  at::Tensor out = at::empty_like(hidden);  // [N, L, hidden]
  for (int64_t s = 0; s < hidden.size(0); s += micro) {
    const int64_t n = std::min(micro, hidden.size(0) - s);
    out.narrow(0, s, n).copy_(block_forward(b, c, hidden.narrow(0, s, n), rope, observe));
    if (on_chunk) on_chunk(out.narrow(0, s, n));
  }
  return out;
}

at::Tensor run_layer_loop(LlamaWeights& w, at::Tensor hidden, const Method& method, ShardWriter& shard,
                          const std::string& shard_path, const LayerLoopOptions& opt,
                          const std::function<void(const BlockReport&)>& progress, int64_t stop_after_block) {
  c10::InferenceMode guard;
  const LlamaConfig& c = w.config;
  const RopeTables rope = rope_tables(c, hidden.size(1), hidden.scalar_type(), hidden.device());
  const std::vector<int64_t> done = shard.committed_blocks();

  for (std::size_t i = 0; i < w.blocks.size(); ++i) {
    const int64_t block = w.first_block + static_cast<int64_t>(i);
    const auto t0 = std::chrono::steady_clock::now();
    BlockWeights& bw = w.blocks[i];
    const bool resumed = std::find(done.begin(), done.end(), block) != done.end();
    QuantizedBlock quantized;
    if (resumed) {
      quantized = ShardReader(shard_path).read_block(block);
    } else {
      std::map<std::string, at::Tensor> kept;
      quantized = calibrate_block(block, bw, c, hidden, rope, method, opt, kept);
      shard.commit_block(block, quantized, kept);
    }
    const BlockWeights q = apply_quantized_block(bw, quantized, shard_path + ": block " + std::to_string(block));
    const bool last = i + 1 == w.blocks.size();
    hidden = forward_block(opt.quantized_propagation ? q : bw, c, hidden, rope, opt.micro_batch, nullptr,
                           last ? opt.on_output_chunk : nullptr);
    bw = q;  // the rank keeps the quantized block (evaluation in the same run reads it)
    progress({block, resumed, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
    if (block == stop_after_block) break;
    // Fault injection for the kill test (tests/mpi): die like a killed rank right after a commit.
    if (const char* kill_after = std::getenv("LOWBIT_TEST_KILL_AFTER_BLOCK"); kill_after && !resumed &&
        std::atoll(kill_after) == block)
      ::kill(::getpid(), SIGKILL);
  }
  return hidden;
}

}  // namespace lowbit
