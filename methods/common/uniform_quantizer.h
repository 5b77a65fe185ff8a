// Uniform affine (min-max) weight quantization with the GPTQ quantizer's conventions (METHODS.md
// §1.5): per output row, or per (row, group of `group_size` consecutive input columns); zero is
// forced into [min, max]; asymmetric with an integer zero point, or symmetric with zero at
// (maxq + 1) / 2; round half to even. RTN is this applied once to every linear; GPTQ reuses the
// grids column by column.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lowbit {

// How a group's grid is fitted (METHODS.md §1.5 and §7): three conventions exist in the references.
enum class GridRule {
  MinMax,     // GPTQ/RTN: zero forced into [min, max]; symmetric: zero at (maxq + 1) / 2
  AwqMinMax,  // AWQ's pseudo_quantize_tensor: s = clamp(max - min, 1e-5) / maxq, z = clamp(-round(min / s), 0, maxq)
  AbsMax,     // SmoothQuant: symmetric, s = clamp(max |w|, 1e-5) / (2^(bits-1) - 1), codes round(w / s) + 2^(bits-1)
};

struct UniformQuantSpec {
  int bits = 4;             // 1..8 where codes are stored (one per byte); up to 16 for fake quantization
  int64_t group_size = 0;   // 0: per output channel (the whole row)
  bool symmetric = false;   // MinMax only (AwqMinMax is asymmetric, AbsMax symmetric)
  GridRule rule = GridRule::MinMax;
};

struct QuantGrid {
  at::Tensor scale;  // [rows, 1] fp32
  at::Tensor zero;   // [rows, 1] fp32 (an integer value)
  int64_t maxq = 0;  // 2^bits - 1
};

// Grid of each row of x [rows, cols] from its min/max.
QuantGrid minmax_grid(const at::Tensor& x, int bits, bool symmetric);
// Grid of each row of x [rows, cols] by `spec.rule` (MinMax: minmax_grid).
QuantGrid fit_grid(const at::Tensor& x, const UniformQuantSpec& spec);
// Integer codes q = clamp(round(x / scale) + zero, 0, maxq), as fp32 [rows, cols].
at::Tensor quantize_codes(const at::Tensor& x, const QuantGrid& g);
// scale * (q - zero)
at::Tensor dequantize_codes(const at::Tensor& q, const QuantGrid& g);

// The stored form back to weights: scale[:, g_idx] * (codes - zero[:, g_idx]), fp32 [out, in].
// codes [out, in] (u8), scale/zero [out, groups], g_idx [in] (group of each input column).
at::Tensor dequantize_uniform(const at::Tensor& codes, const at::Tensor& scale, const at::Tensor& zero,
                              const at::Tensor& g_idx);

// Codes and grids of w [out, in] with one grid per row (group_size 0) or per (row, group), by
// spec.rule: codes [out, in] u8, scale/zero [out, groups], as stored in shards (bits <= 8).
struct GroupedCodes {
  at::Tensor codes, scale, zero;
  int64_t group_size = 0;  // columns per group (the whole row when per channel)
};
GroupedCodes quantize_grouped(const at::Tensor& w, const UniformQuantSpec& spec);

// w [out, in] -> the dequantized ("fake-quantized") weight, fp32, same shape. `in` must be a
// multiple of group_size when grouping.
at::Tensor fake_quantize(const at::Tensor& w, const UniformQuantSpec& spec);

}  // namespace lowbit
