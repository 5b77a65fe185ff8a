// What pretraining a LLaMA model trains (every weight; norms without weight decay) and what it
// minimises (next-token cross-entropy), as a TrainSpec for the generic loop.
#pragma once

#include "framework/model/llama_weights.h"
#include "framework/train/trainer.h"

namespace lowbit {

// Mean next-token cross-entropy of the batch under `w` (w holds the whole model).
at::Tensor causal_lm_loss(const LlamaWeights& w, const TokenBatch& batch);

// Every tensor of `w` trains; the spec keeps references to w's tensors, so w must outlive it.
TrainSpec causal_lm_pretraining(LlamaWeights& w);

}  // namespace lowbit
