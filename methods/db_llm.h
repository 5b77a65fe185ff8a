// DB-LLM (methods/db_llm.cpp, docs/methods/db-llm.md): Flexible Dual Binarization trained block by
// block against the full-precision block's output (stage 1 of the method).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"

namespace lowbit {

struct DbLlmOptions {
  int64_t group_size = 128;
  int64_t epochs = 20;      // passes over the calibration sequences per block
  // AdamW learning rates, relative to each linear's weight RMS (the update is lr · RMS(W)):
  double lr_alpha = 5e-3;   // of α1, α2
  double lr_weight = 5e-3;  // of the latent weights (0: frozen)
};  // sequences per step: the run's distributed.micro_batch

// What one block's training works on: each linear's latent weight [out, in] and α [2, out, groups]
// (fp32, leaves with gradients), by module name ("self_attn.q_proj").
struct FdbBlockState {
  std::map<std::string, at::Tensor> weight, alpha;
};

// The initial state of block `b`: latent weights = the block's weights, α from their 2-bit grids.
FdbBlockState fdb_initial_state(const BlockWeights& b, int64_t group_size);
// The reconstruction loss mean((block(ŵ; x) − y)²) of the straight-through weights of `s` over the
// sequences x [n, L, hidden] against y [n, L, hidden], computed in fp32 (differentiable in `s`).
at::Tensor fdb_block_loss(const BlockWeights& b, const FdbBlockState& s, const LlamaConfig& c, const at::Tensor& x,
                          const at::Tensor& y, const RopeTables& rope, int64_t group_size);

// Stage 1's training of `s` on block `b`: AdamW per tensor (β 0.9/0.999, no decay, constant rates
// o.lr_alpha and o.lr_weight times each linear's weight RMS), o.epochs passes over x [N, L, hidden]
// in order, `micro_batch` sequences per step, against y. Returns the first and last epochs' mean loss.
std::pair<double, double> fdb_train_block(const BlockWeights& b, FdbBlockState& s, const LlamaConfig& c,
                                          const at::Tensor& x, const at::Tensor& y, const RopeTables& rope,
                                          const DbLlmOptions& o, int64_t micro_batch);

}  // namespace lowbit
