// How a model is split across pipeline ranks, and what each rank needs in memory — a pure
// function of the architecture, the world size and the calibration settings (no weights read).
//   blocks: contiguous ranges balanced by bytes; rank 0 also holds the embedding, the last rank the
//   final norm and lm_head.
//   memory per rank = weights + activations + Hessians + solver workspace, where
//     activations = 2 buffers (block inputs and outputs; 3 on ranks that run ahead in full-precision
//                   propagation) x samples x seq_len x hidden x act bytes
//                   + one micro-batch's transient block intermediates in fp32,
//                   + with linear_inputs, the four distinct inputs of one block's linears over
//                   every sample (samples x seq_len x (hidden + q_dim + hidden + intermediate) x act bytes),
//     Hessians    = the four distinct linear inputs of one block in fp32 (hidden², q_dim²,
//                   hidden², intermediate²), when the method needs them,
//     workspace   = what quantizing one block holds at its peak: the GPTQ solver's factorisation of
//                   the largest Hessian (H, its Cholesky factor, H⁻¹, U: 4 x in² fp32) and copies of
//                   the largest weight (W, Q, losses, errors: 4 x out x in fp32), plus the block's
//                   artifacts (dequantized fp32 + 1-byte codes) and its quantized copy (fp32);
//                   with block_training (DB-LLM) also 24 bytes per block parameter (an fp32 copy of
//                   the block, latent weights, their gradients, AdamW's two moments, a step's
//                   straight-through weights), and in activations the inputs' and targets' copies
//                   (2 buffers) and one micro-batch's saved autograd intermediates (as the transient).
//   Checked against the measured peak of `lowbit quantize` (docs/pipeline-plan.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/model/llama_config.h"

namespace lowbit {

struct PlanSettings {
  int ranks = 1;
  std::string weight_dtype = "bfloat16";
  std::string activation_dtype = "bfloat16";
  int64_t samples = 128;  // calibration sequences
  int64_t seq_len = 2048;
  int64_t micro_batch = 1;
  bool hessians = true;   // the method needs Hessians (GPTQ family)
  bool hessians_f64 = false;  // summed in float64, then rounded to fp32 (QuIP): 12 bytes per entry at peak
  bool linear_inputs = false;  // the method holds a block's four linear inputs over every sample (AWQ)
  bool block_training = false;  // the method trains each block with autograd (DB-LLM)
  bool head = true;       // the last rank holds final norm + lm_head (evaluation); quantize alone does not
  // Full-precision propagation: every rank but the last first runs its original blocks ahead to
  // feed the next rank, holding a third activation buffer meanwhile.
  bool full_precision = false;
};

struct RankPlan {
  int rank = 0;
  int64_t first_block = 0, end_block = 0;  // [first, end)
  bool embedding = false, head = false;
  uint64_t weight_bytes = 0;
  uint64_t activation_bytes = 0;
  uint64_t hessian_bytes = 0;
  uint64_t workspace_bytes = 0;
  uint64_t total() const { return weight_bytes + activation_bytes + hessian_bytes + workspace_bytes; }
};

struct PartitionPlan {
  std::vector<RankPlan> ranks;
  uint64_t model_weight_bytes = 0;
  const RankPlan& owner_of_block(int64_t block) const;
};

PartitionPlan make_partition_plan(const LlamaConfig& c, const PlanSettings& s);

// One rank holding the whole model (embedding, every block, head): data-parallel training, tools.
RankPlan whole_model_plan(const LlamaConfig& c);

}  // namespace lowbit
