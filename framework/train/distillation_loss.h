// Logit distillation losses for training a quantized student against its full-precision teacher:
// plain KL(teacher ‖ student) per token, and DB-LLM's deviation-aware distillation (DAD), which
// weights each token's KL by how ambiguous the token is to both models (docs/methods/db-llm.md:
// the functional form is lowbit's choice; the paper's is unpublished).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace lowbit {

enum class DistillationLoss { Kl, Dad };
DistillationLoss parse_distillation_loss(const std::string& name, const std::string& where);  // "kl" | "dad"
const char* distillation_loss_name(DistillationLoss l);

struct DistillationTerms {
  at::Tensor kl;      // [tokens] KL(p_t ‖ p_s) = Σ_v p_t (log p_t − log p_s), fp32, differentiable in the student
  at::Tensor weight;  // [tokens] the token weights (no gradient): 1 for Kl; H̃_t · H̃_s for Dad
};

// Per-token terms from teacher and student logits [tokens, vocab] (any float dtype; computed in fp32).
// DAD's weight is the product of the two normalized prediction entropies H̃ = H(p) / log(vocab) ∈ [0, 1]:
// large where both models are unsure (ambiguous tokens), small where the teacher is confident.
DistillationTerms distillation_terms(const at::Tensor& teacher_logits, const at::Tensor& student_logits,
                                     DistillationLoss loss);

// The loss a step minimizes: Σ_i weight_i · kl_i over the tokens with mask_i (bool [tokens]), divided by
// the number of those tokens (a mean per target token, so micro-batches combine by their token counts).
at::Tensor distillation_loss(const at::Tensor& teacher_logits, const at::Tensor& student_logits, const at::Tensor& mask,
                             DistillationLoss loss);

}  // namespace lowbit
