// What a method sees of the block it quantizes (method interface v2): the block's index, config,
// weights and RoPE tables, its calibration inputs, the statistics the method declared, the inputs
// of its linears, and a way to run the attention half, the MLP half or the whole block with
// candidate weights -- micro-batch by micro-batch, on the block's device, in the activations'
// dtype. AWQ's scale search runs the halves; later methods (SliM-LLM, DB-LLM) the whole block.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <functional>

#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"

namespace lowbit {

struct BlockStatistics;

class BlockContext {
 public:
  // Keeps references: every argument must outlive the context.
  BlockContext(int64_t index, const BlockWeights& weights, const LlamaConfig& config, const at::Tensor& inputs,
               const RopeTables& rope, int64_t micro_batch, const BlockStatistics& statistics);

  int64_t index() const { return index_; }
  const BlockWeights& weights() const { return weights_; }  // the original block
  const LlamaConfig& config() const { return config_; }
  const at::Tensor& inputs() const { return inputs_; }      // [N, L, hidden]
  const RopeTables& rope() const { return rope_; }
  int64_t micro_batch() const { return micro_; }
  const BlockStatistics& statistics() const { return stats_; }

  // The inputs of the linears reading `in`, over every calibration sequence, as the original block
  // computes them: [N, L, features] in the activations' dtype. The four are computed together on
  // first use (one pass of the block) and kept for the context's life: about 2 + 2 + 2 + 7 GB for
  // LLaMA3-8B at 128 x 2048 tokens in bfloat16.
  const at::Tensor& linear_input(LinearInput in) const;
  // The same inputs streamed: f(first sequence, kind, x [n, L, features]) for each kind of each
  // micro-batch in turn, holding one micro-batch at a time (SliM-LLM's search over every token of
  // down_proj's 14336-wide input would not fit otherwise).
  void for_each_linear_input(const std::function<void(int64_t, LinearInput, const at::Tensor&)>& f) const;

  // The block's halves and the whole block with candidate weights `w` (tensors of any float dtype:
  // cast to the inputs' dtype), over every sequence, in micro-batches:
  at::Tensor run_attention(const BlockWeights& w, const at::Tensor& h) const;  // normed h [N, L, hidden] -> o_proj out
  at::Tensor run_mlp(const BlockWeights& w, const at::Tensor& h) const;        // normed h [N, L, hidden] -> down out
  at::Tensor run_block(const BlockWeights& w, const at::Tensor& x) const;      // x [N, L, hidden] -> block out

 private:
  template <class F>
  at::Tensor by_micro_batch(const at::Tensor& in, int64_t out_features, F&& f) const;

  int64_t index_;
  const BlockWeights& weights_;
  const LlamaConfig& config_;
  const at::Tensor& inputs_;
  const RopeTables& rope_;
  int64_t micro_;
  const BlockStatistics& stats_;
  mutable std::array<at::Tensor, 4> linear_inputs_;
};

}  // namespace lowbit
