#include "framework/train/distillation_loss.h"

#include <ATen/ATen.h>

#include <cmath>

#include "framework/core/error.h"

namespace lowbit {

DistillationLoss parse_distillation_loss(const std::string& name, const std::string& where) {
  if (name == "kl") return DistillationLoss::Kl;
  if (name == "dad") return DistillationLoss::Dad;
  LOWBIT_FAIL(where, ": loss must be 'dad' (deviation-aware distillation) or 'kl' (plain KL), got '", name, "'");
}

const char* distillation_loss_name(DistillationLoss l) { return l == DistillationLoss::Dad ? "dad" : "kl"; }

DistillationTerms distillation_terms(const at::Tensor& teacher_logits, const at::Tensor& student_logits,
                                     DistillationLoss loss) {
  LOWBIT_ASSERT(teacher_logits.sizes() == student_logits.sizes() && teacher_logits.dim() == 2,
                "distillation_terms: logits must both be [tokens, vocab]");
  const at::Tensor log_pt = at::log_softmax(teacher_logits.detach().to(at::kFloat), -1);  // [tokens, vocab]
  const at::Tensor log_ps = at::log_softmax(student_logits.to(at::kFloat), -1);
  const at::Tensor pt = log_pt.exp();
  DistillationTerms t;
  t.kl = (pt * (log_pt - log_ps)).sum(-1);  // [tokens]
  if (loss == DistillationLoss::Kl) {
    t.weight = at::ones_like(t.kl);
    return t;
  }
  // Entropies of both predictions, normalized by the uniform distribution's (log vocab): the weight
  // says how much the token counts and is not itself trained (no gradient through H_s).
  const double log_vocab = std::log(static_cast<double>(teacher_logits.size(-1)));
  const at::Tensor ls = log_ps.detach();
  const at::Tensor h_t = -(pt * log_pt).sum(-1) / log_vocab;
  const at::Tensor h_s = -(ls.exp() * ls).sum(-1) / log_vocab;
  t.weight = h_t * h_s;
  return t;
}

at::Tensor distillation_loss(const at::Tensor& teacher_logits, const at::Tensor& student_logits, const at::Tensor& mask,
                             DistillationLoss loss) {
  const DistillationTerms t = distillation_terms(teacher_logits, student_logits, loss);
  const at::Tensor m = mask.to(at::kFloat);
  return (t.weight * t.kl * m).sum() / m.sum().clamp_min(1);
}

}  // namespace lowbit
