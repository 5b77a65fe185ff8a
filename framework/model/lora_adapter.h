// LoRA adapters on a block's linears, as the forward pass applies them (PEFT's LoRA Linear, and
// IR-QLoRA's Information Elastic Connection when β is present):
//   plain: y = W·x + s·B·(A·drop(x)),                                   s = alpha / r
//   IEC:   u = A·drop(x) + β_A·GroupMean_r(x),  y = W·x + s·(B·u + β_B·Repeat_out(u))
// GroupMean_r averages r contiguous chunks of x's `in` features; Repeat_out gives each of r
// contiguous chunks of the `out` features the value u_k. Adapters are kept in fp32 whatever the
// base's dtype (as PEFT keeps them for QLoRA); the delta is added in the base output's dtype.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <functional>

#include "framework/model/llama_arch.h"

namespace lowbit {

struct LinearAdapter {
  at::Tensor a;       // [r, in]; undefined: this linear has no adapter
  at::Tensor b;       // [out, r]
  at::Tensor beta_a;  // [] IEC's β_A; undefined without IEC
  at::Tensor beta_b;  // [] IEC's β_B
  double scaling = 1; // alpha / r

  bool defined() const { return a.defined(); }
  bool iec() const { return beta_a.defined(); }
};

// Dropout of a linear's input on the adapter path only: x -> x·mask/(1-p), or null for none.
using AdapterDropout = std::function<at::Tensor(int64_t layer, BlockTensor linear, const at::Tensor& x)>;

struct BlockAdapters {
  int64_t layer = 0;                                      // the block's index in the model
  std::array<LinearAdapter, kBlockTensorCount> linears;   // indexed by BlockTensor; norms never
  AdapterDropout dropout;                                 // training only

  const LinearAdapter& at(BlockTensor t) const { return linears[static_cast<int>(t)]; }
  LinearAdapter& at(BlockTensor t) { return linears[static_cast<int>(t)]; }
};

// y + the adapter's contribution for input x ([..., in]; y [..., out]).
at::Tensor add_adapter(const BlockAdapters& adapters, BlockTensor linear, const at::Tensor& x, const at::Tensor& y);

// The adapter as one [out, in] fp32 matrix: s·(B + β_B·R)·(A + β_A·G), R and G IEC's repeat and
// group-mean matrices — what evaluation adds to the dequantized weight (every term is linear in x).
at::Tensor merged_delta(const LinearAdapter& adapter);

}  // namespace lowbit
