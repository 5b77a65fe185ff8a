// The settings of `lowbit train CONFIG.yaml`, read once from YAML and validated.
#pragma once

#include <cstdint>
#include <string>

namespace lowbit {

struct TrainModelConfig {  // the architecture of a model trained from scratch
  int64_t hidden_size = 256;
  int64_t intermediate_size = 768;
  int64_t num_hidden_layers = 4;
  int64_t num_attention_heads = 8;
  int64_t num_key_value_heads = 2;
  double rope_theta = 500000.0;
  double rms_norm_eps = 1e-5;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  double init_std = 0.02;
};

struct OptimConfig {  // AdamW with warmup and cosine (or constant) learning rate
  int64_t steps = 100;
  int64_t micro_batch = 8;   // sequences per forward/backward
  int64_t grad_accum = 1;    // micro-batches per optimizer step
  double lr = 3e-3;
  std::string schedule = "cosine";  // cosine | constant
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.1;  // cosine floor, as a fraction of lr
  double weight_decay = 0.1;  // decoupled; applied to matrices only (not norms)
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;  // max global gradient norm; 0 disables
};

struct TrainConfig {
  std::string source;  // the YAML file, for messages
  TrainModelConfig model;
  std::string tokenizer;      // tokenizer.json (its size is the vocabulary)
  std::string train_text;     // plain text files
  std::string validation_text;
  int64_t seq_len = 256;
  OptimConfig optim;
  uint64_t seed = 0;
  int threads = 0;  // libtorch intra-op threads; 0 = libtorch's default
  int64_t eval_every = 50;
  int64_t eval_windows = 32;  // held-out windows of seq_len tokens
  int64_t log_every = 10;
  std::string output_dir;
  int64_t save_every = 100;

  static TrainConfig from_yaml(const std::string& path);
  // A stable text of every setting that changes the result: a checkpoint made under another
  // fingerprint is refused on resume.
  std::string fingerprint() const;
};

}  // namespace lowbit
