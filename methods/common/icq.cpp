// ICQ's τ search: icq.h says what it computes and from which reference functions.
#include "methods/common/icq.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "framework/core/error.h"
#include "methods/common/nf4.h"

namespace lowbit {

double inverse_normal_cdf(double p) {
  LOWBIT_CHECK(p > 0 && p < 1, "inverse_normal_cdf: p = ", p);
  // Acklam's rational approximation (relative error < 1.2e-9), then Halley steps on
  // Φ(x) − p = 0 with Φ(x) = erfc(−x/√2)/2, which bring it to double precision.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  for (int i = 0; i < 3; ++i) {
    const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
    const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
    x = x - u / (1 + x * u / 2);
  }
  return x;
}

at::Tensor nf4_block_entropy(const at::Tensor& codes, int64_t blocksize) {
  const at::Tensor blocks = codes.reshape({1, -1, blocksize});                                  // [1, B, 64]
  const at::Tensor values = at::arange(16, codes.options().dtype(at::kLong)).view({16, 1, 1});  // [16, 1, 1]
  const at::Tensor freqs = (blocks.to(at::kLong) == values).sum(-1, true).to(at::kFloat) / static_cast<double>(blocksize);
  at::Tensor h = -freqs * at::log2(freqs);             // [16, B, 1]; 0 · log 0 = NaN -> 0
  h = at::where(at::isnan(h), at::zeros_like(h), h);
  return h.sum(0).reshape(-1);                         // summed over the 16 values in order
}

IcqResult icq_search(const at::Tensor& w_in, double tau_range, int64_t tau_n, const std::string& where) {
  constexpr int64_t kBlock = 64, kSuper = 256;
  LOWBIT_CHECK(w_in.numel() % (kBlock * kSuper) == 0, where, ": ", w_in.numel(), " weights; ICQ groups 256 NF4 "
               "blocks of 64 (16384 weights) under one τ scale, as the reference's nf4_quant hard-codes");
  const at::Tensor w = w_in.to(at::kFloat).reshape({-1, kSuper, kBlock});  // [S, 256, 64]
  const at::Tensor tau0 = std::get<0>(w.median(2, true));                 // [S, 256, 1], the lower median
  const at::Tensor absmax = (w - tau0).abs().amax(2, true);              // [S, 256, 1]
  // σ = 1 / Φ⁻¹(0.9677083) as the reference gets it: the argument from an fp32 linspace, and
  // scipy's norm.ppf on that fp32 array answers in fp32 (ndtri's float loop), then 1 / x in double.
  const double sigma = 1.0 / static_cast<double>(static_cast<float>(inverse_normal_cdf(static_cast<double>(0.9677083f))));
  // numpy.linspace: k · step + start, the last exactly the stop.
  const int64_t count = 2 * tau_n + 1;
  const double start = -tau_range * sigma, stop = tau_range * sigma, step = (stop - start) / static_cast<double>(count - 1);
  at::Tensor best_entropy, best_factor;
  for (int64_t k = 0; k < count; ++k) {
    const double f = k == count - 1 ? stop : static_cast<double>(k) * step + start;
    const at::Tensor tau = absmax * f + tau0;  // fp32 (f rounded to fp32, as a scalar times an fp32 tensor)
    const Nf4State s = nf4_quantize(w - tau, kBlock, /*double_quant=*/false);
    const at::Tensor h = nf4_block_entropy(nf4_unpack(s.packed, w.numel()), kBlock);  // [blocks]
    if (!best_entropy.defined()) {
      best_entropy = h;
      best_factor = at::full_like(h, f);
    } else {
      best_factor = at::where(h > best_entropy, at::full_like(h, f), best_factor);
      best_entropy = at::maximum(best_entropy, h);
    }
  }
  IcqResult r;
  r.factor = best_factor;                                                      // [blocks] fp32
  const at::Tensor tau = best_factor.view({-1, kSuper, 1}) * absmax + tau0;  // [S, 256, 1]
  r.tau = tau.reshape(-1);
  const at::Tensor tau2 = tau.abs().amax(1, true);                            // [S, 1, 1]
  const at::Tensor map = bnb_dynamic_map().to(w.device());
  const at::Tensor ratio = (tau / tau2).reshape({-1, 1});                     // [blocks, 1]
  r.tau1 = (ratio - map.view({1, -1})).abs().argmin(-1).to(at::kByte);      // the first of equals
  r.tau2 = tau2.reshape(-1);
  r.entropy = best_entropy;
  return r;
}

}  // namespace lowbit
