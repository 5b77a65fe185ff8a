// AWQ (METHODS.md §6; mit-han-lab/llm-awq `auto_scale_block`, `auto_clip_block`,
// `pseudo_quantize_tensor`): per block, from the full-precision model's activations,
//  1. a scale search at each junction -- input_layernorm -> q/k/v (loss on the attention half's
//     output), v -> o (only when v_proj and o_proj have the same shape: never with GQA, so never for
//     LLaMA3), post_attention_layernorm -> gate/up (loss on the MLP half's output), up -> down (loss
//     on down_proj's output): s = clamp(mean|x|^r, 1e-4) / sqrt(max s * min s) for r = i / n_grid,
//     candidate W' = Q(W diag(s)) diag(1/s), loss = mean squared output difference; the r of least
//     loss wins (the first on ties);
//  2. the scales folded: the previous norm (or the previous linear's rows) divided by s, the group's
//     columns multiplied by s, the cached linear inputs divided by s;
//  3. a clip search for every linear but q and k: per (row, group) max |w| shrunk by i / n_grid for
//     i < max_shrink * n_grid, the error of each group's partial dot products over a strided subsample
//     of clip_tokens tokens, the least (strictly) kept; W clamped to it;
//  4. every linear quantized to nearest on AWQ's asymmetric min-max grid.
// Everything in fp32 on the block's device; the module outputs in the activations' dtype.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "methods/method.h"

namespace lowbit {

struct AwqOptions {
  int bits = 4;
  int64_t group_size = 128;  // 0: per output channel
  int n_grid = 20;           // scale ratios 0, 1/n_grid, ..., (n_grid-1)/n_grid; clip shrink step 1/n_grid
  double max_shrink = 0.5;   // clip candidates i < max_shrink * n_grid
  int64_t clip_tokens = 512; // clip search subsample: every (tokens / clip_tokens)-th token
  bool scale_search = true;  // the reference's auto_scale
  bool clip_search = true;   // the reference's mse_range
};

// One junction of the scale search.
struct AwqJunction {
  std::string previous;              // "input_layernorm", "self_attn.v_proj", "post_attention_layernorm", "mlp.up_proj"
  std::vector<std::string> linears;  // the group whose columns are scaled
  int ratio_index = -1;              // chosen r = ratio_index / n_grid
  std::vector<double> losses;        // per ratio
  at::Tensor scales;                 // [in] fp32, the chosen s
};

struct AwqResult {
  std::vector<AwqJunction> junctions;        // in the reference's order (skipped ones absent)
  std::map<std::string, at::Tensor> clip;        // module -> max value per (row, group) [out, groups] fp32
  std::map<std::string, at::Tensor> clip_index;  // module -> chosen shrink i per (row, group) [out, groups] int64
  QuantizedBlock block;                      // the quantized linears + the two folded norms
};

AwqResult awq_quantize_block(const BlockContext& ctx, const AwqOptions& opt);

}  // namespace lowbit
