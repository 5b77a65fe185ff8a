// The settings of `lowbit finetune CONFIG.yaml`: LoRA fine-tuning of a frozen (quantized) base on
// instruction data, with QLoRA's recipe as the defaults (IR-QLoRA's scripts/finetune.sh and the
// defaults of its irlora.py / qlora.py).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/train/lora.h"
#include "framework/train/train_config.h"
#include "framework/train/training_settings.h"

namespace lowbit {

struct FinetuneConfig {
  std::string source;         // the YAML file, for messages
  std::string base;           // a lowbit run directory (lowbit quantize) or a Hugging Face model directory
  std::string model_override; // the run's base model elsewhere than its manifest says ("" = the manifest's)
  std::string train_data;     // Alpaca-format .json / .jsonl
  std::string validation_data;
  int64_t source_max_len = 384;
  int64_t target_max_len = 128;
  int64_t heldout_examples = 1000;  // at most this many validation records (max_eval_samples)
  LoraConfig lora;
  // Training: transformers' TrainingArguments as qlora.py sets them (max_steps, the global batch =
  // per_device_train_batch_size x devices x accumulation, learning_rate, adam betas/epsilon,
  // max_grad_norm, data_seed), and the output directory.
  TrainingSettings training = qlora_training();
  std::string lr_scheduler_type = "constant";  // constant (transformers: no warm-up) | constant_with_warmup
  double warmup_ratio = 0.03;  // used by constant_with_warmup only, as in transformers
  double weight_decay = 0.0;

  static TrainingSettings qlora_training();
  static FinetuneConfig from_yaml(const std::string& path, const std::vector<std::string>& overrides = {});
  // Every setting that changes the adapters: a checkpoint made under another fingerprint is refused.
  std::string fingerprint() const;
  // The trainer's optimizer settings for `world` data-parallel ranks (grad_accum = batch / (world x micro)).
  OptimConfig optim(int world) const;
};

}  // namespace lowbit
