// BiLLM (methods/billm.cpp, docs/methods/billm.md): residual binarization of structurally salient
// columns and a split binarization of the rest, in GPTQ's loop without in-block updates.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "methods/method.h"

namespace lowbit {

struct BillmOptions {
  int64_t block_size = 128;      // the reference's blocksize (= its groupsize): the search runs per block
  int64_t salient_up_lim = 50;   // salient columns searched: 1 .. up_lim - 1 (structural_searching(.., 50))
  bool hessian_saliency = true;  // salient_metric: hessian (the reference's runs) or magnitude
  double percdamp = 0.01;
};

// What the searches chose per block: the salient-column count and the split threshold.
struct BillmDecisions {
  std::vector<int64_t> salient_columns;  // [blocks]
  std::vector<float> split;              // [blocks]
};

// One linear: w [out, in], h [in, in] fp32 -> a finished "binary_planes" artifact with four planes
// (M1 order 1, M2 order 1, M3 order 2 as two planes); `decisions` (optional) receives the searches' choices.
QuantizedLinear billm_quantize(const at::Tensor& w, const at::Tensor& h, const BillmOptions& options,
                               const std::string& where, BillmDecisions* decisions = nullptr);

}  // namespace lowbit
