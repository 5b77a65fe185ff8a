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

int64_t target_count(const TokenBatch& b) { return b.targets.ne(-100).sum().item<int64_t>(); }

double heldout_loss(const TrainSpec& spec, const std::vector<TokenBatch>& heldout) {
  c10::NoGradGuard no_grad;
  double total = 0;
  int64_t count = 0;
  for (std::size_t i = static_cast<std::size_t>(spec.rank); i < heldout.size(); i += static_cast<std::size_t>(spec.world)) {
    const int64_t n = target_count(heldout[i]);
    if (n == 0) continue;
    total += spec.loss(heldout[i]).item<double>() * static_cast<double>(n);
    count += n;
  }
  if (spec.all_reduce) {
    at::Tensor sums = at::tensor({total, static_cast<double>(count)}, at::kDouble);
    spec.all_reduce(sums);
    total = sums[0].item<double>();
    count = static_cast<int64_t>(sums[1].item<double>());
  }
  return total / static_cast<double>(count);
}

namespace {

// Every parameter's gradient as one flat vector in `dtype` (zeros where a parameter has none).
at::Tensor flat_gradients(const std::vector<Parameter>& params, c10::ScalarType dtype) {
  std::vector<at::Tensor> flat;
  for (const Parameter& p : params)
    flat.push_back(p.value.grad().defined() ? p.value.grad().reshape({-1}).to(dtype)
                                            : at::zeros({p.value.numel()}, p.value.options().dtype(dtype)));
  return at::cat(flat);
}

// Sets every parameter's gradient from a flat vector (rounded to the parameter's dtype).
void set_gradients(const std::vector<Parameter>& params, const at::Tensor& flat) {
  int64_t offset = 0;
  for (const Parameter& p : params) {
    const int64_t n = p.value.numel();
    p.value.mutable_grad() = flat.narrow(0, offset, n).view(p.value.sizes()).to(p.value.scalar_type()).clone();
    offset += n;
  }
}

}  // namespace

void train(const TrainSpec& spec, AdamW& optimizer, const TrainConfig& config, const StepBatches& batches,
           const std::vector<TokenBatch>& heldout, TrainProgress& progress,
           const std::function<void(const TrainProgress&)>& save, int64_t schedule_steps) {
  const OptimConfig& o = config.optim;
  OptimConfig schedule = o;
  if (schedule_steps > 0) schedule.steps = schedule_steps;
  const auto start = std::chrono::steady_clock::now();
  const int64_t first_step = progress.step, first_tokens = progress.tokens;
  double interval_loss = 0;
  int64_t interval_steps = 0;

  while (progress.step < o.steps) {
    const int64_t step = progress.step;
    const double lr = learning_rate(schedule, step);
    optimizer.zero_grad();
    const std::vector<TokenBatch> micro = batches(step);
    // The step's target tokens and input tokens over every rank: each micro-batch's mean loss is
    // weighted by its share of the targets (for equal micro-batches on one rank: 1 / micro-batches).
    std::vector<int64_t> counts;
    double targets = 0, tokens = 0;
    for (const TokenBatch& b : micro) {
      counts.push_back(target_count(b));
      targets += static_cast<double>(counts.back());
      tokens += static_cast<double>(b.tokens >= 0 ? b.tokens : b.inputs.numel());
    }
    if (spec.all_reduce) {
      at::Tensor sums = at::tensor({targets, tokens}, at::kDouble);
      spec.all_reduce(sums);
      targets = sums[0].item<double>();
      tokens = sums[1].item<double>();
    }
    LOWBIT_CHECK(targets > 0, "step ", step, ": the batch has no target tokens (every response truncated away?)");
    double step_loss = 0;
    at::Tensor sum;  // float64 accumulation: the micro-batches' gradients so far
    for (std::size_t i = 0; i < micro.size(); ++i) {
      if (counts[i] == 0) continue;
      const double weight = targets / static_cast<double>(counts[i]);
      const at::Tensor loss = spec.loss(micro[i]);
      const double value = loss.item<double>();
      LOWBIT_CHECK(std::isfinite(value), "training diverged: loss is ", value, " at step ", step,
                   " (lower the learning rate or raise the warm-up in ", config.source, ")");
      (loss / weight).backward();
      step_loss += value / weight;
      if (spec.float64_accumulation) {
        const at::Tensor g = flat_gradients(optimizer.params(), at::kDouble);
        sum = sum.defined() ? sum.add_(g) : g;
        optimizer.zero_grad();
      }
    }
    if (spec.float64_accumulation || spec.all_reduce) {
      at::Tensor all = spec.float64_accumulation
                           ? (sum.defined() ? sum : flat_gradients(optimizer.params(), at::kDouble))
                           : flat_gradients(optimizer.params(), at::kFloat);
      if (spec.all_reduce) spec.all_reduce(all);
      set_gradients(optimizer.params(), all);
    }
    if (spec.all_reduce) {
      at::Tensor l = at::tensor({step_loss}, at::kDouble);
      spec.all_reduce(l);
      step_loss = l.item<double>();
    }
    const double grad_norm = clip_grad_norm(optimizer.params(), o.grad_clip);
    optimizer.step(lr);
    ++progress.step;
    progress.tokens += static_cast<int64_t>(tokens);
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
                                     static_cast<double>(progress.tokens - first_tokens) / elapsed, duration(elapsed),
                                     duration(eta));
      if (evaluate) {
        rec.heldout_loss = heldout_loss(spec, heldout);
        line += fmt::format("  held-out loss {:.4f}", rec.heldout_loss);
        if (spec.loss_is_nll) line += fmt::format(" ppl {:.2f}", std::exp(rec.heldout_loss));
      }
      if (spec.print) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      }
      progress.history.push_back(rec);
      interval_loss = 0;
      interval_steps = 0;
    }
    if (progress.step % config.save_every == 0 || last) save(progress);
  }
}

}  // namespace lowbit
