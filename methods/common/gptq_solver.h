// GPTQ's solver for one linear layer (METHODS.md §5; IST-DASLab/gptq `fasterquant`): quantizes the
// columns of W one at a time with the uniform grid of uniform_quantizer.h and spreads each column's
// error over the columns not yet quantized, weighted by the upper Cholesky factor of H⁻¹; lazy
// batches of `block_size` columns; optional act-order and static groups.
//
// Two implementations of the same algorithm, with the same rounding (GptqRoute):
//  - the row-tiled solver (CPU tensors only): rows are independent given H, so the in-block work
//    runs on tiles of rows that stay in cache, in parallel (data_ptr loops, AVX2); only the lazy
//    update of the remaining columns is a matrix product;
//  - the ATen route (any device): the reference's column loop written in ATen tensor ops, column by
//    column on all rows at once, with no host synchronisation inside the loop. It is what runs on
//    CUDA; on CPU it reproduces the row-tiled solver bit for bit (tested).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "methods/common/uniform_quantizer.h"

namespace lowbit {

// How the upper Cholesky factor U of H⁻¹ (Uᵀ U = H⁻¹) is computed. Both are exact in arithmetic:
//  - Reference: chol(chol_inverse(chol(H)))ᵀ, the reference code's three factorisations (4n³/3 flops),
//    rounding bit for bit like it;
//  - Reversed: with J the order reversal, J H J = M Mᵀ gives U = J M⁻¹ J: one Cholesky and one
//    triangular inverse (2n³/3 flops, and H⁻¹ is never formed). It rounds differently, so a weight
//    sitting on a rounding boundary may take the neighbouring code.
enum class GptqFactorization { Reversed, Reference };

// Which implementation runs the column loop:
//  - Auto: the row-tiled solver for CPU tensors, the ATen route for any other device;
//  - Aten: the ATen route whatever the device. A test switch: it is how the device route is checked
//    against the reference on a machine without a GPU.
enum class GptqRoute { Auto, Aten };

struct GptqOptions {
  UniformQuantSpec quant;      // bits, group_size (0: per channel), symmetric
  double percdamp = 0.01;      // λ = percdamp · mean(diag H)
  int64_t block_size = 128;
  bool act_order = false;      // columns in order of decreasing diag(H)
  bool static_groups = false;  // group grids fitted on the original W before any update
  GptqFactorization factorization = GptqFactorization::Reversed;
  GptqRoute route = GptqRoute::Auto;
};

// U (upper, Uᵀ U = H⁻¹) of a symmetric positive definite h [n, n] fp32, by either route.
// Throws c10::Error when h is not positive definite.
at::Tensor inverse_cholesky_upper(const at::Tensor& h, GptqFactorization route);

// Every tensor of the result is on the device of the inputs.
struct GptqResult {
  at::Tensor weight;  // [out, in] fp32: the dequantized weight (fake-quant)
  at::Tensor codes;   // [out, in] uint8: integer codes, in the original column order
  at::Tensor scale;   // [out, groups] fp32 (groups = 1 per channel)
  at::Tensor zero;    // [out, groups] fp32
  at::Tensor g_idx;   // [in] int32: group of each input column
  at::Tensor losses;  // [in] fp32: Σ_rows (w - q)² / d² / 2 per column (the reference's Losses summed)
};

// w [out, in] (any float dtype), h [in, in] (fp32, from HessianAccumulator), on the same device.
// Neither is modified. The solve runs in fp32 on that device.
GptqResult gptq_quantize(const at::Tensor& w, const at::Tensor& h, const GptqOptions& options);

}  // namespace lowbit
