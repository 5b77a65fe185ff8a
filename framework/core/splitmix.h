// SplitMix64's mixing function: a stateless 64-bit hash, for random draws that must depend only on
// their keys (seed, step, index ...) so a resumed run draws what an uninterrupted one would.
#pragma once

#include <cstdint>

namespace lowbit {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace lowbit
