// The input Hessian of a linear layer, as the references accumulate it:
//   GptqRunningMean (METHODS.md §1.3): H = (2/N) Σ_n X_n X_nᵀ over N calibration sequences, kept as
//     a running average in fp32 with the reference's update order (scale by N_old/N_new, then add
//     the scaled batch), so results match it;
//   QuipSumF64 (§8, QuantMethod.add_batch / post_batch): H = (1/N) Σ_n X_n X_nᵀ, the sum kept in
//     float64 and divided by N once, then rounded to fp32.
// H lives on the device given at construction; inputs must be on that device, in any float dtype
// (bf16 activations on a GPU are widened before the product).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>

namespace lowbit {

class HessianAccumulator {
 public:
  enum class Kind { GptqRunningMean, QuipSumF64 };
  explicit HessianAccumulator(int64_t in_features, at::Device device = at::kCPU, Kind kind = Kind::GptqRunningMean);
  // x: [sequences, tokens, in] (or [tokens, in] for one sequence), any float dtype, on device().
  void add(const at::Tensor& x);
  at::Tensor hessian() const;  // [in, in] fp32
  int64_t sequences() const { return n_; }
  at::Device device() const { return h_.device(); }

 private:
  Kind kind_;
  at::Tensor h_;  // fp32 running mean, or the float64 sum
  int64_t n_ = 0;
};

}  // namespace lowbit
