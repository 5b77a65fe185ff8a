#include "methods/common/seeded_stream.h"

#include <cmath>
#include <numeric>

namespace lowbit {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

}  // namespace

SeededStream::SeededStream(uint64_t seed, int64_t block, const std::string& name) {
  // Each part through its own SplitMix64 step, so (seed, block, name) tuples that differ anywhere
  // start far apart.
  uint64_t a = seed, b = static_cast<uint64_t>(block) ^ 0xD1B54A32D192ED03ull, c = fnv1a(name);
  state_ = splitmix64(a) ^ (splitmix64(b) * 3) ^ (splitmix64(c) * 5);
}

uint64_t SeededStream::next_u64() { return splitmix64(state_); }

double SeededStream::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double SeededStream::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u, v, s;
  do {
    u = 2 * uniform() - 1;
    v = 2 * uniform() - 1;
    s = u * u + v * v;
  } while (s >= 1 || s == 0);
  const double f = std::sqrt(-2 * std::log(s) / s);
  spare_ = v * f;
  has_spare_ = true;
  return u * f;
}

uint64_t SeededStream::below(uint64_t bound) {
  // Reject the top partial range so every value is equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % bound;
}

std::vector<int64_t> SeededStream::permutation(int64_t n) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[static_cast<int64_t>(below(static_cast<uint64_t>(i) + 1))]);
  return p;
}

}  // namespace lowbit
