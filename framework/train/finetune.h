// `lowbit finetune CONFIG.yaml`: LoRA (QLoRA / IR-QLoRA) fine-tuning of a frozen base — a lowbit
// run's dequantized weights or a plain model — on Alpaca-format instruction data. Every rank holds
// the whole model and trains on its slice of each global batch (data parallelism: adapter
// gradients summed over the ranks, so P ranks take the steps one rank takes at the same global
// batch, up to float summation order). Checkpoints every save_every steps; a rerun resumes.
//
// OUTPUT_DIR/
//   finetune.json       what was fine-tuned: the base (run or model directory), its fingerprint,
//                       the LoRA settings, steps, held-out loss before and after
//   adapter/            adapter_config.json + adapter_model.safetensors (PEFT's layout)
//   checkpoint/         the latest training state (adapter + optimizer + trainer_state.json)
#pragma once

#include <cstdint>

#include "framework/train/finetune_config.h"

namespace lowbit {

struct FinetuneResult {
  int64_t steps_done = 0;
  double base_heldout_loss = 0;  // the held-out response loss of the base (adapters at B = 0)
  double heldout_loss = 0;       // after this run
  bool complete = false;         // all steps done and OUTPUT_DIR/adapter written
};

// Collective over the MPI world (one process: one rank). stop_after_steps > 0 ends the run after
// that many optimizer steps in total, with a checkpoint.
FinetuneResult finetune(const FinetuneConfig& config, int64_t stop_after_steps = 0);

// OUTPUT_DIR/finetune.json's name, and the adapter directory beside it.
inline constexpr const char* kFinetuneManifest = "finetune.json";
inline constexpr const char* kFinetuneAdapterDir = "adapter";

}  // namespace lowbit
