#include "framework/train/causal_lm.h"

#include <ATen/ATen.h>

#include "framework/model/llama_forward.h"

namespace lowbit {

at::Tensor causal_lm_loss(const LlamaWeights& w, const TokenBatch& batch) {
  const at::Tensor logits = head(w, blocks_forward(w, embed(w, batch.inputs)));  // [batch, seq, vocab] fp32
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), batch.targets.reshape({-1}));
}

TrainSpec causal_lm_pretraining(LlamaWeights& w) {
  TrainSpec spec;
  for (const NamedTensor& t : named_tensors(w)) spec.params.push_back({t.name, *t.tensor, t.tensor->dim() >= 2});
  const LlamaWeights* model = &w;
  spec.loss = [model](const TokenBatch& b) { return causal_lm_loss(*model, b); };
  return spec;
}

}  // namespace lowbit
