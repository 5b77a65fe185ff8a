// The training loop, independent of what trains: a list of parameters and a loss over token
// batches (TrainSpec) — the causal LM trains every weight, LoRA fine-tuning (later) only its
// adapters — plus AdamW, the schedule, clipping, gradient accumulation, held-out loss, progress
// on the terminal and a checkpoint callback.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

#include "framework/train/adamw.h"
#include "framework/train/token_windows.h"
#include "framework/train/train_config.h"

namespace lowbit {

struct TrainSpec {
  std::vector<Parameter> params;
  // Mean loss over the target tokens of the batch (those not -100; a scalar with a gradient).
  std::function<at::Tensor(const TokenBatch&)> loss;
  // Data parallelism (null on one rank): sums a tensor over the ranks in place. Each rank then
  // weights its micro-batches by their share of the step's target tokens over all ranks, the
  // gradients are summed, and every rank takes the same step; held-out batches are shared out.
  std::function<void(at::Tensor&)> all_reduce;
  int rank = 0, world = 1;
  // Sum the micro-batches' gradients in float64 (then over the ranks, then round to the parameters'
  // dtype): each micro-batch's gradient is the same on any world size, and this makes their sum
  // independent of how micro-batches are grouped into ranks up to float64 rounding. Without it the
  // fp32 sums differ in order, and Adam's first steps (±lr wherever |g| >> eps) magnify that.
  bool float64_accumulation = false;
  bool print = true;  // progress lines (rank 0 of a data-parallel run)
  bool loss_is_nll = true;  // the loss is a cross-entropy: progress lines show its perplexity too
};

// This rank's micro-batches of optimizer step `step` (0-based).
using StepBatches = std::function<std::vector<TokenBatch>(int64_t step)>;

struct TrainRecord {  // one line of history
  int64_t step = 0;            // optimizer steps done
  double train_loss = 0;       // mean over the last logging interval
  double heldout_loss = -1;    // -1 when not evaluated at this step
};

struct TrainProgress {
  int64_t step = 0;     // optimizer steps done
  int64_t tokens = 0;   // training tokens consumed
  std::vector<TrainRecord> history;
};

// Mean loss per target token over the held-out batches, without gradients (over every rank's share
// in a data-parallel run).
double heldout_loss(const TrainSpec& spec, const std::vector<TokenBatch>& heldout);

// Runs optimizer steps progress.step .. config.optim.steps-1. `save(progress)` is called every
// save_every steps and after the last one. The learning-rate schedule spans `schedule_steps`
// (default: config.optim.steps), so a run stopped early follows the full run's schedule.
void train(const TrainSpec& spec, AdamW& optimizer, const TrainConfig& config, const StepBatches& batches,
           const std::vector<TokenBatch>& heldout, TrainProgress& progress,
           const std::function<void(const TrainProgress&)>& save, int64_t schedule_steps = 0);

}  // namespace lowbit
