// Calibration statistics shared between runs. With `propagation: full_precision` a block's inputs
// are the original model's activations, so its statistics (Hessians, channel abs-max and abs-mean)
// depend only on the model and the
// calibration set — not on the method or its bits and group size. A sweep over those then gathers
// them once: the first run stores each block's statistics under DIR/<model fp>-<calibration fp>/,
// later runs with the same fingerprints read them back. One safetensors file per block, written
// atomically (a killed run leaves no half file).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "methods/method.h"

namespace lowbit {

class StatisticsCache {
 public:
  // `dir` empty: a cache that never hits and stores nothing.
  StatisticsCache(const std::string& dir, const std::string& model_fingerprint,
                  const std::string& calibration_fingerprint);
  bool enabled() const { return !dir_.empty(); }
  // Nothing when absent, or when the file lacks one of `kinds` (its metadata records the kinds it
  // holds); every kind the file holds is returned.
  std::optional<BlockStatistics> load(int64_t block, const std::vector<Statistic>& kinds) const;
  // Writes `stats` (what the file held of other kinds is kept); atomically.
  void store(int64_t block, const BlockStatistics& stats) const;
  std::string file(int64_t block) const;

 private:
  std::string dir_;
  std::string model_fp_, calib_fp_;
};

}  // namespace lowbit
