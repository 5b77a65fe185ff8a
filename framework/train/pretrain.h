// `lowbit train`: pretraining a LLaMA-architecture model from scratch on a text corpus, with
// checkpoints it resumes from. The loop itself is train() (trainer.h); this wires the config,
// tokenizer, data, model, optimizer and checkpoints together.
#pragma once

#include <cstdint>

#include "framework/train/train_config.h"

namespace lowbit {

struct PretrainResult {
  int64_t steps_done = 0;
  double heldout_loss = 0;  // of the model at the end of this run
  bool complete = false;    // all configured steps are done and OUTPUT/model is written
};

// Trains (or resumes) as `config` says. stop_after_steps > 0 ends this run after that many
// optimizer steps in total (with a checkpoint), e.g. to fit a cluster's time limit; the next run
// resumes there. Progress goes to stdout.
PretrainResult pretrain(const TrainConfig& config, int64_t stop_after_steps = 0);

}  // namespace lowbit
