// The settings every data-parallel trainer of a frozen base reads the same way (`lowbit finetune`,
// `lowbit distill`): the `training:` keys of AdamW, batches, seed, device and progress, and the
// `output:` section. Each config embeds one with its own defaults and reads its extra keys itself.
#pragma once

#include <cstdint>
#include <string>

#include "framework/train/train_config.h"

namespace lowbit {

class YamlSection;

struct TrainingSettings {
  int64_t steps = 100;       // optimizer steps
  int64_t batch_size = 8;    // global batch (sequences per step over all ranks)
  int64_t micro_batch = 8;   // sequences per forward/backward on one rank
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double max_grad_norm = 0;  // 0: no clipping
  uint64_t seed = 0;
  std::string device = "auto";  // auto | cpu | cuda
  int threads = 0;              // libtorch intra-op threads per rank; 0 = libtorch's default
  int64_t eval_every = 100;     // held-out loss every N steps (and after the last)
  int64_t log_every = 10;
  std::string output_dir;
  int64_t save_every = 100;

  // Reads those keys present in `training` and `output` (the defaults stay otherwise; output.dir is
  // required); each section's other keys are the caller's, who finishes the sections.
  void read(YamlSection& training, YamlSection& output);
  // Refuses out-of-range values, naming `path` and the key.
  void check(const std::string& path) const;
  // AdamW for `world` data-parallel ranks (grad_accum = batch / (world x micro)); refuses a batch the
  // ranks cannot split evenly, naming `source`. Schedule and weight decay are the caller's.
  OptimConfig optim(int world, const std::string& source) const;
  // The settings that change what trains (not device, threads, progress or where it is written).
  std::string fingerprint() const;
};

}  // namespace lowbit
