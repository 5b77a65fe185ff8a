// The settings of `lowbit distill CONFIG.yaml`: DB-LLM's stage 2, end-to-end distillation of a
// db-llm run's dual-binary scales from its full-precision base model over a text corpus
// (docs/methods/db-llm.md; no published recipe: every default is lowbit's choice, said there).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/train/distillation_loss.h"
#include "framework/train/train_config.h"
#include "framework/train/training_settings.h"

namespace lowbit {

struct DistillConfig {
  std::string source;          // the YAML file, for messages
  std::string base;            // a lowbit run directory whose linears are all dual_binary (method db-llm)
  std::string model_override;  // the run's base model elsewhere than its manifest says ("" = the manifest's)
  std::string train_text;      // plain text: training windows drawn from (seed, step, index)
  std::string validation_text; // plain text: the first heldout_windows non-overlapping windows
  int64_t seq_len = 2048;
  int64_t heldout_windows = 8;
  DistillationLoss loss = DistillationLoss::Dad;
  // lowbit's choices (docs/methods/db-llm.md): 500 steps of 8 windows, AdamW at 1e-2 x each linear's
  // stage-1 weight RMS, constant, no clipping; micro-batches of one window.
  TrainingSettings training = distill_training();
  std::string schedule = "constant";  // constant | cosine (to 0 at the last step)

  static TrainingSettings distill_training();
  static DistillConfig from_yaml(const std::string& path, const std::vector<std::string>& overrides = {});
  // Every setting that changes the scales: a checkpoint made under another fingerprint is refused.
  std::string fingerprint() const;
  // The trainer's optimizer settings for `world` data-parallel ranks.
  OptimConfig optim(int world) const;
};

}  // namespace lowbit
