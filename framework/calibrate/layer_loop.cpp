#include "framework/calibrate/layer_loop.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <vector>

#include "framework/core/error.h"
#include "framework/model/llama_forward.h"
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

BlockWeights with_quantized(const BlockWeights& b, const std::map<std::string, QuantizedLinear>& q) {
  BlockWeights out = b;
  for (const BlockLinear& l : block_linears()) out.*l.weight = q.at(l.module).weight.to(b.q.scalar_type());
  return out;
}

}  // namespace

at::Tensor forward_block(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& hidden, const RopeTables& rope,
                         int64_t micro, const LinearInputObserver& observe) {
  at::Tensor out = at::empty_like(hidden);  // [N, L, hidden]
  for (int64_t s = 0; s < hidden.size(0); s += micro) {
    const int64_t n = std::min(micro, hidden.size(0) - s);
    out.narrow(0, s, n).copy_(block_forward(b, c, hidden.narrow(0, s, n), rope, observe));
  }
  return out;
}

at::Tensor run_layer_loop(LlamaWeights& w, at::Tensor hidden, const Method& method, ShardWriter& shard,
                          const std::string& shard_path, const LayerLoopOptions& opt,
                          const std::function<void(const BlockReport&)>& progress, int64_t stop_after_block) {
  c10::InferenceMode guard;
  const LlamaConfig& c = w.config;
  const MethodNeeds needs = method.needs();
  LOWBIT_CHECK(!needs.true_sequential, "method.true_sequential is not supported by the layer loop yet; set it to false");
  const RopeTables rope = rope_tables(c, hidden.size(1), hidden.scalar_type());
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
      BlockStatistics stats;
      if (needs.hessian) {
        const int64_t ins[4] = {c.hidden_size, c.q_dim(), c.hidden_size, c.intermediate_size};
        std::vector<HessianAccumulator> acc;
        for (int64_t n : ins) acc.emplace_back(n);
        forward_block(bw, c, hidden, rope, opt.micro_batch,
                  [&](LinearInput in, const at::Tensor& x) { acc[static_cast<int>(in)].add(x); });
        for (int k = 0; k < 4; ++k) stats.hessian[k] = acc[k].hessian();
        stats.sequences = hidden.size(0);
      }
      quantized = method.quantize_block(bw, stats);
      std::map<std::string, at::Tensor> kept;
      if (opt.keep_hessians && needs.hessian)
        for (int k = 0; k < 4; ++k) kept[std::string(input_name(static_cast<LinearInput>(k))) + "/hessian"] = stats.hessian[k];
      shard.commit_block(block, quantized, kept);
    }
    const BlockWeights q = with_quantized(bw, quantized);
    hidden = forward_block(opt.quantized_propagation ? q : bw, c, hidden, rope, opt.micro_batch);
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
