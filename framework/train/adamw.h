// AdamW (decoupled weight decay, bias-corrected moments) as torch.optim.AdamW computes it, over
// named parameters, with its state exposed for checkpoints. Plus the learning-rate schedule and
// global-norm gradient clipping.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "framework/train/train_config.h"

namespace lowbit {

// A tensor that trains: requires_grad is set on it by the optimizer.
struct Parameter {
  std::string name;
  at::Tensor value;
  bool decay = true;  // weight decay applies (matrices yes, norm weights no)
  double lr_scale = 1.0;  // this parameter's learning rate is the step's times this (per-tensor relative rates)
};

class AdamW {
 public:
  AdamW(std::vector<Parameter> params, const OptimConfig& config);

  // One update with learning rate `lr` from the gradients in each parameter's .grad().
  void step(double lr);
  void zero_grad();
  int64_t steps_taken() const { return t_; }

  const std::vector<Parameter>& params() const { return params_; }
  // State for checkpoints: first and second moments per parameter (same order as params()).
  std::vector<at::Tensor>& exp_avg() { return m_; }
  std::vector<at::Tensor>& exp_avg_sq() { return v_; }
  void set_steps_taken(int64_t t) { t_ = t; }

 private:
  std::vector<Parameter> params_;
  OptimConfig config_;
  std::vector<at::Tensor> m_, v_;
  int64_t t_ = 0;
};

// Learning rate at optimizer step `step` (0-based): linear warmup, then cosine to
// lr * min_lr_ratio at the last step, or constant; "constant_with_warmup" is transformers' (lr·step/warmup,
// then lr).
double learning_rate(const OptimConfig& c, int64_t step);

// Scales all gradients so their global L2 norm is at most max_norm (0: no clipping); returns the
// norm before clipping.
double clip_grad_norm(const std::vector<Parameter>& params, double max_norm);

}  // namespace lowbit
