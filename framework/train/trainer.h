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
  // Mean loss over every target token of the batch (a scalar with a gradient).
  std::function<at::Tensor(const TokenBatch&)> loss;
};

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

// Mean loss per target token over the held-out batches, without gradients.
double heldout_loss(const TrainSpec& spec, const std::vector<TokenBatch>& heldout);

// Runs optimizer steps progress.step .. config.optim.steps-1. `save(progress)` is called every
// save_every steps and after the last one. The learning-rate schedule spans `schedule_steps`
// (default: config.optim.steps), so a run stopped early follows the full run's schedule.
void train(const TrainSpec& spec, AdamW& optimizer, const TrainConfig& config, const TrainingWindows& data,
           const std::vector<TokenBatch>& heldout, TrainProgress& progress,
           const std::function<void(const TrainProgress&)>& save, int64_t schedule_steps = 0);

}  // namespace lowbit
