#include "framework/train/trainer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "framework/core/error.h"

namespace lowbit {
namespace {

std::string duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  return s >= 3600 ? fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60) : fmt::format("{}m{:02}s", s / 60, s % 60);
}

}  // namespace

double heldout_loss(const TrainSpec& spec, const std::vector<TokenBatch>& heldout) {
  c10::NoGradGuard no_grad;
  double total = 0;
  int64_t count = 0;
  for (const TokenBatch& b : heldout) {
    total += spec.loss(b).item<double>() * static_cast<double>(b.targets.numel());
    count += b.targets.numel();
  }
  return total / static_cast<double>(count);
}

void train(const TrainSpec& spec, AdamW& optimizer, const TrainConfig& config, const TrainingWindows& data,
           const std::vector<TokenBatch>& heldout, TrainProgress& progress,
           const std::function<void(const TrainProgress&)>& save, int64_t schedule_steps) {
  const OptimConfig& o = config.optim;
  OptimConfig schedule = o;
  if (schedule_steps > 0) schedule.steps = schedule_steps;
  const int64_t tokens_per_step = o.micro_batch * o.grad_accum * config.seq_len;
  const auto start = std::chrono::steady_clock::now();
  const int64_t first_step = progress.step;
  double interval_loss = 0;
  int64_t interval_steps = 0;

  while (progress.step < o.steps) {
    const int64_t step = progress.step;
    const double lr = learning_rate(schedule, step);
    optimizer.zero_grad();
    double step_loss = 0;
    for (int64_t micro = 0; micro < o.grad_accum; ++micro) {
      const at::Tensor loss = spec.loss(data.batch(step, micro, o.micro_batch));
      const double value = loss.item<double>();
      LOWBIT_CHECK(std::isfinite(value), "training diverged: loss is ", value, " at step ", step,
                   " (lower training.lr or raise warmup_steps in ", config.source, ")");
      (loss / static_cast<double>(o.grad_accum)).backward();
      step_loss += value / static_cast<double>(o.grad_accum);
    }
    const double grad_norm = clip_grad_norm(optimizer.params(), o.grad_clip);
    optimizer.step(lr);
    ++progress.step;
    progress.tokens += tokens_per_step;
    interval_loss += step_loss;
    ++interval_steps;

    const bool last = progress.step == o.steps;
    const bool evaluate = progress.step % config.eval_every == 0 || last;
    if (progress.step % config.log_every == 0 || evaluate) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double done = static_cast<double>(progress.step - first_step);
      const double eta = elapsed / done * static_cast<double>(o.steps - progress.step);
      TrainRecord rec{progress.step, interval_loss / static_cast<double>(interval_steps), -1};
      std::string line = fmt::format("step {:>5}/{}  loss {:.4f}  lr {:.2e}  |g| {:.3f}  {:.0f} tok/s  elapsed {}  ETA {}",
                                     progress.step, o.steps, rec.train_loss, lr, grad_norm,
                                     done * static_cast<double>(tokens_per_step) / elapsed, duration(elapsed),
                                     duration(eta));
      if (evaluate) {
        rec.heldout_loss = heldout_loss(spec, heldout);
        line += fmt::format("  held-out loss {:.4f} ppl {:.2f}", rec.heldout_loss, std::exp(rec.heldout_loss));
      }
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
      progress.history.push_back(rec);
      interval_loss = 0;
      interval_steps = 0;
    }
    if (progress.step % config.save_every == 0 || last) save(progress);
  }
}

}  // namespace lowbit
