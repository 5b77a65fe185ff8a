// Calibration statistics shared between runs. With `propagation: full_precision` a block's inputs
// are the original model's activations, so its Hessians depend only on the model and the
// calibration set — not on the method or its bits and group size. A sweep over those then gathers
// them once: the first run stores each block's statistics under DIR/<model fp>-<calibration fp>/,
// later runs with the same fingerprints read them back. One safetensors file per block, written
// atomically (a killed run leaves no half file).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "methods/method.h"

namespace lowbit {

class StatisticsCache {
 public:
  // `dir` empty: a cache that never hits and stores nothing.
  StatisticsCache(const std::string& dir, const std::string& model_fingerprint,
                  const std::string& calibration_fingerprint);
  bool enabled() const { return !dir_.empty(); }
  std::optional<BlockStatistics> load(int64_t block) const;  // nothing when absent
  void store(int64_t block, const BlockStatistics& stats) const;
  std::string file(int64_t block) const;

 private:
  std::string dir_;
  std::string model_fp_, calib_fp_;
};

}  // namespace lowbit
