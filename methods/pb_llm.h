// PB-LLM (methods/pb_llm.cpp, docs/methods/pb-llm.md): partial binarization in GPTQ's loop.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "methods/method.h"

namespace lowbit {

struct PbLlmOptions {
  double low_frac = 0.9;         // fraction of each group binarized (1.7 bits with 8-bit salient weights)
  int high_bit = 8;              // the salient weights' bits
  bool hessian_saliency = true;  // salient_metric: hessian (the README's runs) or magnitude (argparse's default)
  int64_t group_size = 128;      // 0: the whole row
  int64_t block_size = 128;
  double percdamp = 0.01;
};

// One linear: w [out, in], h [in, in] fp32 -> a finished "binary_planes" artifact with its salient part.
QuantizedLinear pb_llm_quantize(const at::Tensor& w, const at::Tensor& h, const PbLlmOptions& options,
                                const std::string& where);

}  // namespace lowbit
