// `lowbit distill CONFIG.yaml`: DB-LLM's stage 2 (docs/methods/db-llm.md). A db-llm run's scales
// α1, α2 are trained end to end, planes fixed, to reproduce its full-precision base model's
// predictions on a text corpus with the deviation-aware (entropy-weighted) KL or plain KL. Every
// rank holds the whole teacher and student and trains on its slice of each batch (data parallel,
// as `lowbit finetune`); checkpoints every save_every steps, and a rerun resumes.
//
// OUTPUT_DIR/
//   distill.json        what was distilled: the base run, its fingerprints, the settings, the scales
//                       file's XXH64, held-out KL and perplexity before and after
//   scales.safetensors  the trained α of every linear ("model.layers.{i}.{module}.alpha", fp32)
//   checkpoint/         the latest training state (scales + optimizer + trainer_state.json)
// `lowbit eval OUTPUT_DIR` (and `lowbit export OUTPUT_DIR`) read the run with these scales.
#pragma once

#include <cstdint>

#include "framework/train/distill_config.h"

namespace lowbit {

struct HeldoutDistillation {  // over the held-out windows
  double kl = 0;          // mean KL(teacher ‖ student) per token
  double perplexity = 0;  // the student's, exp(mean next-token cross-entropy)
};

struct DistillResult {
  int64_t steps_done = 0;
  double teacher_perplexity = 0;
  HeldoutDistillation before, after;
  bool complete = false;  // all steps done and OUTPUT_DIR/scales.safetensors written
};

// Collective over the MPI world. stop_after_steps > 0 ends the run after that many optimizer steps in
// total, with a checkpoint.
DistillResult distill(const DistillConfig& config, int64_t stop_after_steps = 0);

inline constexpr const char* kDistillManifest = "distill.json";
inline constexpr const char* kDistillScalesFile = "scales.safetensors";

}  // namespace lowbit
