#include "framework/train/adamw.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

namespace lowbit {

AdamW::AdamW(std::vector<Parameter> params, const OptimConfig& config) : params_(std::move(params)), config_(config) {
  for (Parameter& p : params_) {
    p.value.requires_grad_(true);
    m_.push_back(at::zeros_like(p.value));
    v_.push_back(at::zeros_like(p.value));
  }
}

void AdamW::zero_grad() {
  for (Parameter& p : params_)
    if (p.value.grad().defined()) p.value.mutable_grad() = at::Tensor();
}

void AdamW::step(double lr) {
  c10::NoGradGuard no_grad;
  ++t_;
  const double b1 = config_.beta1, b2 = config_.beta2;
  const double bias1 = 1.0 - std::pow(b1, static_cast<double>(t_));
  const double bias2 = 1.0 - std::pow(b2, static_cast<double>(t_));
  for (std::size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& w = params_[i].value;
    const at::Tensor g = w.grad();
    if (!g.defined()) continue;
    const double rate = lr * params_[i].lr_scale;
    if (params_[i].decay && config_.weight_decay > 0) w.mul_(1.0 - rate * config_.weight_decay);
    m_[i].lerp_(g, 1.0 - b1);
    v_[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
    const at::Tensor denom = (v_[i].sqrt() / std::sqrt(bias2)).add_(config_.eps);
    w.addcdiv_(m_[i], denom, -rate / bias1);
  }
}

double learning_rate(const OptimConfig& c, int64_t step) {
  // transformers' get_constant_schedule_with_warmup: the first step runs at lr * 0 / warmup.
  if (c.schedule == "constant_with_warmup")
    return step < c.warmup_steps ? c.lr * static_cast<double>(step) / static_cast<double>(c.warmup_steps) : c.lr;
  if (step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  if (c.schedule == "constant") return c.lr;
  const double span = std::max<int64_t>(1, c.steps - 1 - c.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - c.warmup_steps) / span);
  const double floor = c.lr * c.min_lr_ratio;
  return floor + 0.5 * (c.lr - floor) * (1.0 + std::cos(M_PI * progress));
}

double clip_grad_norm(const std::vector<Parameter>& params, double max_norm) {
  c10::NoGradGuard no_grad;
  double sq = 0;
  for (const Parameter& p : params)
    if (p.value.grad().defined()) sq += p.value.grad().pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const Parameter& p : params)
      if (p.value.grad().defined()) p.value.mutable_grad().mul_(scale);
  }
  return norm;
}

}  // namespace lowbit
