// A digest of every tensor's bytes in a model directory (XXH64 per tensor), so a run is tied to
// the exact weights it was made from, not only to their names and shapes. Computing them reads the
// whole model once; the result is cached beside the model (`.lowbit-weight-digests.json`, or under
// ~/.cache/lowbit/weight-digests/ when the model directory is read-only), one entry per
// safetensors file, valid while that file's size and modification time are unchanged, so only a
// rewritten file is read again.
#pragma once

#include <map>
#include <string>

namespace lowbit {

using WeightDigests = std::map<std::string, std::string>;  // tensor name -> 16 hex digits

WeightDigests weight_digests(const std::string& model_dir);

// "" when `actual` has the same tensors with the same digests as `expected`; else which tensors
// differ, are missing or are new, by name (the first few, then a count).
std::string describe_weight_difference(const WeightDigests& expected, const WeightDigests& actual);

}  // namespace lowbit
