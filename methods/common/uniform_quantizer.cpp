#include "methods/common/uniform_quantizer.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"

namespace lowbit {

QuantGrid minmax_grid(const at::Tensor& x, int bits, bool symmetric) {
  LOWBIT_CHECK(bits >= 1 && bits <= 16, "quantization bits must be in [1, 16], got ", bits);
  QuantGrid g;
  g.maxq = (int64_t{1} << bits) - 1;
  const at::Tensor xf = x.to(at::kFloat);                  // [rows, cols]
  const at::Tensor zeros = at::zeros({xf.size(0)}, xf.options());
  at::Tensor xmin = at::minimum(std::get<0>(xf.min(1)), zeros);  // [rows]
  at::Tensor xmax = at::maximum(std::get<0>(xf.max(1)), zeros);
  if (symmetric) {
    xmax = at::maximum(xmin.abs(), xmax);
    xmin = at::where(xmin < 0, -xmax, xmin);
  }
  const at::Tensor both_zero = (xmin == 0).logical_and(xmax == 0);
  xmin = at::where(both_zero, at::full_like(xmin, -1), xmin);
  xmax = at::where(both_zero, at::full_like(xmax, 1), xmax);
  // Divided by a 0-dim tensor on x's device rather than by a number: CUDA's division by a host
  // scalar multiplies by its reciprocal (one rounding more); the reference divides by a device
  // tensor (its Quantizer's maxq buffer). On CPU both are the same true division.
  const at::Tensor maxq = at::scalar_tensor(static_cast<double>(g.maxq), xf.options());
  g.scale = ((xmax - xmin) / maxq).unsqueeze(1);  // [rows, 1]
  g.zero = symmetric ? at::full_like(g.scale, static_cast<double>(g.maxq + 1) / 2)
                     : at::round(-xmin.unsqueeze(1) / g.scale);
  return g;
}

QuantGrid fit_grid(const at::Tensor& x, const UniformQuantSpec& spec) {
  if (spec.rule == GridRule::MinMax) return minmax_grid(x, spec.bits, spec.symmetric);
  LOWBIT_CHECK(spec.bits >= 2 && spec.bits <= 16, "quantization bits must be in [2, 16] for this grid, got ", spec.bits);
  QuantGrid g;
  g.maxq = (int64_t{1} << spec.bits) - 1;
  const at::Tensor xf = x.to(at::kFloat);  // [rows, cols]
  if (spec.rule == GridRule::AwqMinMax) {
    const at::Tensor hi = xf.amax(1, true), lo = xf.amin(1, true);  // [rows, 1]
    g.scale = (hi - lo).clamp_min(1e-5) / static_cast<double>(g.maxq);
    g.zero = (-at::round(lo / g.scale)).clamp(0, static_cast<double>(g.maxq));
    return g;
  }
  // AbsMax: the reference divides the clamped max by q_max; codes are offset by 2^(bits-1) so that
  // they are unsigned, and (code - zero) * s == round(w / s) * s exactly.
  const double qmax = static_cast<double>((int64_t{1} << (spec.bits - 1)) - 1);
  g.scale = xf.abs().amax(1, true).clamp_min(1e-5).div(qmax);  // [rows, 1]
  g.zero = at::full_like(g.scale, qmax + 1);
  return g;
}

at::Tensor quantize_codes(const at::Tensor& x, const QuantGrid& g) {
  return at::clamp(at::round(x.to(at::kFloat) / g.scale) + g.zero, 0, static_cast<double>(g.maxq));
}

at::Tensor dequantize_codes(const at::Tensor& q, const QuantGrid& g) { return g.scale * (q - g.zero); }

at::Tensor dequantize_uniform(const at::Tensor& codes, const at::Tensor& scale, const at::Tensor& zero,
                              const at::Tensor& g_idx) {
  LOWBIT_CHECK(codes.dim() == 2 && scale.dim() == 2 && zero.sizes() == scale.sizes() && g_idx.dim() == 1 &&
                   g_idx.size(0) == codes.size(1) && scale.size(0) == codes.size(0),
               "uniform artifact has inconsistent shapes: codes ", codes.sizes(), ", scale ", scale.sizes(), ", zero ",
               zero.sizes(), ", g_idx ", g_idx.sizes());
  const at::Tensor idx = g_idx.to(at::kLong);
  // One host synchronisation for the check, whatever the device.
  LOWBIT_CHECK(!(idx < 0).logical_or(idx >= scale.size(1)).any().item<bool>(),
               "uniform artifact: g_idx points outside the ", scale.size(1), " groups");
  return scale.index_select(1, idx) * (codes.to(at::kFloat) - zero.index_select(1, idx));
}

GroupedCodes quantize_grouped(const at::Tensor& w, const UniformQuantSpec& spec) {
  LOWBIT_CHECK(w.dim() == 2, "quantization expects a [out, in] weight, got ", w.dim(), " dimensions");
  const int64_t out = w.size(0), in = w.size(1);
  const int64_t g = spec.group_size > 0 ? spec.group_size : in;
  LOWBIT_CHECK(in % g == 0, "input size ", in, " is not a multiple of group size ", g);
  // [out, in] -> [out * in/g, g]: every group becomes a row with its own grid.
  const at::Tensor rows = w.to(at::kFloat).reshape({out * (in / g), g});
  LOWBIT_CHECK(spec.bits >= 1 && spec.bits <= 8, "stored codes are one byte each: bits must be in [1, 8], got ",
               spec.bits);
  const QuantGrid grid = fit_grid(rows, spec);
  return {quantize_codes(rows, grid).reshape({out, in}).to(at::kByte), grid.scale.reshape({out, in / g}),
          grid.zero.reshape({out, in / g}), g};
}

at::Tensor fake_quantize(const at::Tensor& w, const UniformQuantSpec& spec) {
  LOWBIT_CHECK(w.dim() == 2, "quantization expects a [out, in] weight, got ", w.dim(), " dimensions");
  const int64_t out = w.size(0), in = w.size(1);
  const int64_t g = spec.group_size > 0 ? spec.group_size : in;
  LOWBIT_CHECK(in % g == 0, "input size ", in, " is not a multiple of group size ", g);
  // The same grid and the same scale * (q - zero) as the stored codes decode to, without the
  // byte codes: element for element equal to dequantize_uniform(quantize_grouped(w)).
  const at::Tensor rows = w.to(at::kFloat).reshape({out * (in / g), g});  // [groups, g]
  const QuantGrid grid = fit_grid(rows, spec);
  return dequantize_codes(quantize_codes(rows, grid), grid).reshape({out, in});
}

}  // namespace lowbit
