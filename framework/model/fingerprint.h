// Fingerprints that tie a run's shards to exactly the model and calibration data they were made
// from: FNV-1a 64-bit over canonical bytes, as 16 hex digits.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace lowbit {

class Fnv1a {
 public:
  void add(const void* data, std::size_t n);
  void add(const std::string& s) { add(s.data(), s.size()), add("\0", 1); }
  std::string hex() const;

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

// config.json's bytes + every tensor's name, dtype, shape and weight digest (weight_digests.h:
// one read of the whole model the first time, then cached by file size and time).
std::string model_fingerprint(const std::string& model_dir);
// The same fingerprint from digests already computed.
std::string model_fingerprint(const std::string& model_dir, const std::map<std::string, std::string>& digests);
// The calibration token ids and the settings that produced them.
std::string calibration_fingerprint(const at::Tensor& ids, const std::string& settings);

}  // namespace lowbit
