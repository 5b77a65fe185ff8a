#include "framework/model/activation_quant.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "framework/core/error.h"

namespace lowbit {

std::string ActivationQuant::describe() const {
  if (!enabled()) return "none";
  return fmt::format("a{} {} {}{}", bits, granularity, symmetric ? "sym" : "asym",
                     quantize_qkv_outputs ? ", q/k/v outputs too" : "");
}

void check_activation_quant(const ActivationQuant& spec, const std::string& where) {
  LOWBIT_CHECK(spec.bits >= 2 && spec.bits <= 16, where, ": activation bits ", spec.bits,
               " are outside [2, 16] (16 = not quantized)");
  LOWBIT_CHECK(spec.granularity == "per_token", where, ": activation granularity '", spec.granularity,
               "' is not known (known: per_token)");
}

at::Tensor fake_quantize_activations(const at::Tensor& x, const ActivationQuant& spec) {
  if (!spec.enabled()) return x;
  if (spec.symmetric) {
    // The reference's quantize_activation_per_token_absmax: max |x| per token, clamp, divide by
    // q_max, then divide, round (half to even), multiply: each step in x's dtype.
    const double qmax = static_cast<double>((int64_t{1} << (spec.bits - 1)) - 1);
    const at::Tensor s = x.abs().amax(-1, /*keepdim=*/true).clamp_min(1e-5).div(qmax);  // [..., 1]
    return x.div(s).round().mul(s);
  }
  const double maxq = static_cast<double>((int64_t{1} << spec.bits) - 1);
  const at::Tensor lo = x.amin(-1, true), hi = x.amax(-1, true);            // [..., 1]
  const at::Tensor s = (hi - lo).div(maxq).clamp(1e-5, 1e4);
  const at::Tensor z = (lo.neg().div(s)).clamp(-1e4, 1e4).round();
  return (x.div(s).round().add(z).clamp(0, maxq).sub(z)).mul(s);
}

}  // namespace lowbit
