// `lowbit quantize`: the driver around the layer loop — config, calibration set, weights, shard,
// manifest. It owns storage (and, with the pipeline issue's communicator, the ranks); methods stay
// pure. For now it runs the whole pipeline in one process (world size 1).
#pragma once

#include <cstdint>
#include <string>

#include "framework/config/experiment_config.h"

namespace lowbit {

struct QuantizeResult {
  std::string run_dir;
  std::string manifest;   // RUN_DIR/manifest.json, written when every block is committed
  int64_t blocks_computed = 0;
  int64_t blocks_resumed = 0;
};

// stop_after_block >= 0 ends the run after committing that block, without a manifest (a killed run).
QuantizeResult quantize_run(const ExperimentConfig& config, int64_t stop_after_block = -1);

}  // namespace lowbit
