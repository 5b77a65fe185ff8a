// CPython's `random` module, bit for bit: MT19937 seeded by init_by_array over the 32-bit words of
// |seed| (random.seed(int)), getrandbits, and randint via rejection sampling (_randbelow). The
// reference calibration loaders draw their windows with it, so lowbit reproduces their exact
// samples (METHODS.md §2).
#pragma once

#include <array>
#include <cstdint>

namespace lowbit {

class PythonRandom {
 public:
  explicit PythonRandom(uint64_t seed);  // random.seed(seed)
  uint32_t genrand_uint32();
  uint64_t getrandbits(int k);            // 1 <= k <= 64
  uint64_t randbelow(uint64_t n);         // uniform in [0, n), n >= 1
  int64_t randint(int64_t a, int64_t b);  // uniform in [a, b], inclusive like Python's

 private:
  std::array<uint32_t, 624> mt_{};
  int mti_ = 625;
};

}  // namespace lowbit
