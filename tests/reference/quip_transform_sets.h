// The (seed, block, module, shape) of each transform set export_quip_transforms writes for the QuIP
// reference cases; test_quip_vs_python.cpp checks the cases ran on exactly these draws.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::test {

struct QuipTransformSet {
  std::string name;    // the cases' prefix in make_quip_cases.py
  uint64_t seed;
  int64_t block;
  std::string module;
  int64_t out, in;
};

inline const std::vector<QuipTransformSet>& quip_transform_sets() {
  static const std::vector<QuipTransformSet> sets = {
      {"random", 0, 5, "self_attn.o_proj", 96, 384},          // 96 = 8 · 12, 384 = 16 · 24
      {"tiny.q_proj", 0, 0, "self_attn.q_proj", 256, 256},     // the small model's block 0
      {"tiny.down_proj", 0, 0, "mlp.down_proj", 256, 768},
  };
  return sets;
}

}  // namespace lowbit::test
