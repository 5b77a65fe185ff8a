// The input Hessian of a linear layer as GPTQ accumulates it (METHODS.md §1.3):
// H = (2/N) Σ_n X_n X_nᵀ over N calibration sequences, kept as a running average in fp32 with the
// reference's update order (scale by N_old/N_new, then add the scaled batch), so results match it.
// H lives on the device given at construction; inputs must be on that device, in any float dtype
// (bf16 activations on a GPU are widened to fp32 before the product).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>

namespace lowbit {

class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t in_features, at::Device device = at::kCPU);
  // x: [sequences, tokens, in] (or [tokens, in] for one sequence), any float dtype, on device().
  void add(const at::Tensor& x);
  const at::Tensor& hessian() const { return h_; }  // [in, in] fp32
  int64_t sequences() const { return n_; }
  at::Device device() const { return h_.device(); }

 private:
  at::Tensor h_;
  int64_t n_ = 0;
};

}  // namespace lowbit
