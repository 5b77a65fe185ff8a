// lowbit's own random stream, for randomness a shard must reproduce (QuIP's orthogonal transforms):
// SplitMix64 over a key mixed from (run seed, block index, module name), so a draw is a function of
// those three alone -- not of the world size, the rank, the device or libtorch's generators (whose
// streams are not a stable format). Normals by Marsaglia's polar method (sqrt and log only: IEEE
// sqrt is exact, glibc's log correctly rounded in practice; the same build reproduces bit for bit).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

class SeededStream {
 public:
  SeededStream(uint64_t seed, int64_t block, const std::string& name);

  uint64_t next_u64();
  double uniform();                               // [0, 1), 53 random bits
  double normal();                                // standard normal
  uint64_t below(uint64_t bound);                 // uniform in [0, bound), unbiased (rejection)
  std::vector<int64_t> permutation(int64_t n);    // uniform over the n! orders (Fisher-Yates)

 private:
  uint64_t state_;
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace lowbit
