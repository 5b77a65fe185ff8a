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

const char* input_name(LinearInput in) {
  switch (in) {
    case LinearInput::Attention: return "attention";
    case LinearInput::AttentionOutput: return "attention_output";
    case LinearInput::Mlp: return "mlp";
    case LinearInput::MlpDown: return "mlp_down";
  }
  return "?";
}

// `b` with the linears present in `q` replaced by their dequantized weights.
BlockWeights with_quantized(const BlockWeights& b, const std::map<std::string, QuantizedLinear>& q) {
  BlockWeights out = b;
  for (const BlockLinear& l : block_linears())
    if (auto it = q.find(l.module); it != q.end())  // from the method (on the device) or a shard (host)
      out.*l.weight = it->second.weight.to(b.q.device(), b.q.scalar_type());
  return out;
}

// The Hessians of the inputs in `inputs` (METHODS.md §1.3), from one pass of `b` over `hidden`.
BlockStatistics gather_hessians(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& hidden,
                                const RopeTables& rope, int64_t micro, const std::vector<LinearInput>& inputs) {
  const int64_t sizes[4] = {c.hidden_size, c.q_dim(), c.hidden_size, c.intermediate_size};
  std::vector<std::unique_ptr<HessianAccumulator>> acc(4);
  for (LinearInput in : inputs)  // fp32 on the block's device, whatever the activations' dtype
    acc[static_cast<int>(in)] = std::make_unique<HessianAccumulator>(sizes[static_cast<int>(in)], hidden.device());
  const LinearInputObserver observe = [&](LinearInput in, const at::Tensor& x) {
    if (acc[static_cast<int>(in)]) acc[static_cast<int>(in)]->add(x);
  };
  for (int64_t s = 0; s < hidden.size(0); s += micro)  // the outputs are not needed: none are kept
    block_forward(b, c, hidden.narrow(0, s, std::min(micro, hidden.size(0) - s)), rope, observe);
  BlockStatistics stats;
  for (int k = 0; k < 4; ++k)
    if (acc[k]) stats.hessian[k] = acc[k]->hessian();
  stats.sequences = hidden.size(0);
  return stats;
}

// The statistics a solve will use must be finite: a NaN there comes from the block's inputs, and
// a solver would fail on it far from the cause (or commit NaN grids).
void check_finite(const BlockStatistics& stats, int64_t block) {
  for (int k = 0; k < 4; ++k)
    LOWBIT_CHECK(!stats.hessian[k].defined() || stats.hessian[k].isfinite().all().item<bool>(), "block ", block,
                 ": the Hessian of the '", input_name(static_cast<LinearInput>(k)),
                 "' input is not finite: the block's calibration activations contain NaN/Inf (with bfloat16 or "
                 "float16 activations they may overflow: try distributed.activations: float32)");
}

}  // namespace

// Quantizes one block. With true_sequential (the reference's --true-sequential), the linears are
// quantized group by group in forward order — q/k/v, o, gate/up, down — each group's Hessian
// gathered with the groups before it already quantized; otherwise all Hessians come from one pass
// of the original block.
std::map<std::string, QuantizedLinear> calibrate_block(int64_t block_index, const BlockWeights& bw, const LlamaConfig& c,
                                                       const at::Tensor& hidden, const RopeTables& rope,
                                                       const Method& method, const LayerLoopOptions& opt,
                                                       std::map<std::string, at::Tensor>& kept) {
  const MethodNeeds needs = method.needs();
  const std::vector<LinearInput> all = {LinearInput::Attention, LinearInput::AttentionOutput, LinearInput::Mlp,
                                        LinearInput::MlpDown};
  auto keep = [&](const BlockStatistics& stats) {
    if (!opt.keep_hessians) return;
    for (int k = 0; k < 4; ++k)
      if (stats.hessian[k].defined())
        kept[std::string(input_name(static_cast<LinearInput>(k))) + "/hessian"] = stats.hessian[k];
  };
  if (!needs.hessian) return method.quantize_block(bw, BlockStatistics{}, LinearSet::all());
  if (!needs.true_sequential) {
    // With full-precision inputs the Hessians depend only on model and calibration: shareable.
    const bool shared = !opt.quantized_propagation && opt.statistics_cache && opt.statistics_cache->enabled();
    std::optional<BlockStatistics> cached;
    if (shared) cached = opt.statistics_cache->load(block_index);
    if (cached)  // read into host memory; the method works on the block's device
      for (at::Tensor& h : cached->hessian)
        if (h.defined()) h = h.to(hidden.device());
    const BlockStatistics stats = cached ? *cached : gather_hessians(bw, c, hidden, rope, opt.micro_batch, all);
    check_finite(stats, block_index);
    if (shared && !cached) opt.statistics_cache->store(block_index, stats);
    keep(stats);
    return method.quantize_block(bw, stats, LinearSet::all());
  }
  std::map<std::string, QuantizedLinear> quantized;
  for (LinearInput in : all) {
    const BlockStatistics stats = gather_hessians(with_quantized(bw, quantized), c, hidden, rope, opt.micro_batch, {in});
    check_finite(stats, block_index);
    keep(stats);
    quantized.merge(method.quantize_block(bw, stats, LinearSet::only(in)));
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
    std::map<std::string, QuantizedLinear> quantized;
    if (resumed) {
      quantized = ShardReader(shard_path).read_block(block);
    } else {
      std::map<std::string, at::Tensor> kept;
      quantized = calibrate_block(block, bw, c, hidden, rope, method, opt, kept);
      shard.commit_block(block, quantized, kept);
    }
    const BlockWeights q = with_quantized(bw, quantized);
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
