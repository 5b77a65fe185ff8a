// Flexible Dual Binarization (DB-LLM, docs/methods/db-llm.md): a 2-bit weight as two binary planes
// with a scale each per (row, group of input columns), w ≈ α1·b1 + α2·b2, b1, b2 ∈ {0, 1}. The
// initialization from the 2-bit min-max grid, the nearest-level assignment, the decode and the
// straight-through weight the training differentiates; ATen ops on any device.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "methods/method.h"

namespace lowbit {

// α [2, out, groups] (α1, α2) from the 2-bit asymmetric min-max grid of w [out, in] (RTN's grid:
// scale s, zero z in {0..3}): its four levels s·(q − z) are {0, α2, α1, α1 + α2} with α1 = ±2s
// (+ for z ≤ 1) and α2 = ±s (+ for even z).
at::Tensor fdb_initial_alpha(const at::Tensor& w, int64_t group_size);
// The planes [2, out, in] u8: for each weight the nearest of {0, α2, α1, α1 + α2} (ties: the first in
// that order), as (b1, b2).
at::Tensor fdb_assign(const at::Tensor& w, const at::Tensor& alpha, int64_t group_size);
// α1[:, g(i)]·b1 + α2[:, g(i)]·b2, fp32 [out, in] (g(i) = i / group_size).
at::Tensor fdb_decode(const at::Tensor& planes, const at::Tensor& alpha, int64_t group_size);
// The weight training differentiates: its value is fdb_decode(fdb_assign(w, α), α); its gradient
// reaches w unchanged (straight-through) and α_k as b_k (the assignment is not differentiated).
at::Tensor fdb_ste_weight(const at::Tensor& w, const at::Tensor& alpha, int64_t group_size);

// A finished "dual_binary" artifact: planes [2, out, in] u8, alpha [2, out, groups] fp32.
QuantizedLinear dual_binary_linear(at::Tensor planes, at::Tensor alpha, int64_t group_size, const std::string& where);

}  // namespace lowbit
