// Training checkpoints: a Hugging Face model directory (config.json, model.safetensors in fp32,
// tokenizer.json) that transformers loads unchanged, plus optimizer.safetensors (AdamW moments)
// and trainer_state.json (step, tokens, config fingerprint, history). Written to a temporary
// directory and swapped in, so a run killed while saving keeps its previous checkpoint.
#pragma once

#include <functional>
#include <string>

#include "framework/model/llama_weights.h"
#include "framework/train/adamw.h"
#include "framework/train/trainer.h"

namespace lowbit {

// Any trainer's checkpoint: `write_model(tmp_dir)` writes what trains (a model, adapters), then the
// optimizer and trainer state follow, and the directory is swapped in.
void save_training_checkpoint(const std::string& dir, const std::function<void(const std::string& tmp_dir)>& write_model,
                              const AdamW& optimizer, const TrainProgress& progress, const std::string& fingerprint);
// Reads DIR/trainer_state.json into `progress`; refuses another config's checkpoint (fingerprint).
void load_trainer_state(const std::string& dir, const std::string& fingerprint, TrainProgress& progress);

void save_checkpoint(const std::string& dir, LlamaWeights& w, const AdamW& optimizer, const TrainProgress& progress,
                     const std::string& fingerprint, const std::string& tokenizer_path);

// The checkpoint directory to resume from, or "" when there is none (a half-swapped save is
// recovered from its ".old" copy).
std::string find_checkpoint(const std::string& dir);

// Reads the model and trainer state of a checkpoint. Refuses (naming the file and the field) a
// checkpoint of another config (fingerprint), architecture, or a damaged one.
LlamaWeights load_checkpoint_model(const std::string& dir, const LlamaConfig& expected, const std::string& fingerprint,
                                   TrainProgress& progress);
// Restores the AdamW moments and step count; `optimizer` must hold the same parameters.
void load_checkpoint_optimizer(const std::string& dir, AdamW& optimizer, const TrainProgress& progress);

}  // namespace lowbit
