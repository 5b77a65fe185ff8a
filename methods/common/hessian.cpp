#include "methods/common/hessian.h"

#include <ATen/ATen.h>

#include <cmath>

#include "framework/core/error.h"

namespace lowbit {

HessianAccumulator::HessianAccumulator(int64_t in_features, at::Device device, Kind kind)
    : kind_(kind),
      h_(at::zeros({in_features, in_features},
                   at::TensorOptions().dtype(kind == Kind::QuipSumF64 ? at::kDouble : at::kFloat).device(device))) {}

at::Tensor HessianAccumulator::hessian() const {
  if (kind_ == Kind::GptqRunningMean) return h_;
  LOWBIT_CHECK(n_ > 0, "the Hessian has no sequence added");
  return (h_ / static_cast<double>(n_)).to(at::kFloat);
}

void HessianAccumulator::add(const at::Tensor& x) {
  const at::Tensor batch = x.dim() == 2 ? x.unsqueeze(0) : x;  // [sequences, tokens, in]
  LOWBIT_CHECK(batch.dim() == 3 && batch.size(2) == h_.size(0), "Hessian input must be [sequences, tokens, ",
               h_.size(0), "], got ", batch.sizes());
  // A silent copy across devices would hide a pipeline that left its activations on the wrong side.
  LOWBIT_CHECK(batch.device() == h_.device(), "Hessian input is on ", batch.device(), " but the Hessian is on ",
               h_.device());
  const int64_t added = batch.size(0);
  if (kind_ == Kind::QuipSumF64) {
    const at::Tensor x = batch.reshape({-1, batch.size(2)}).to(at::kDouble);  // [tokens, in]
    h_.addmm_(x.t(), x);
    n_ += added;
    return;
  }
  h_.mul_(static_cast<double>(n_) / static_cast<double>(n_ + added));
  n_ += added;
  // Widened to fp32 before scaling, so bf16 activations accumulate in fp32 as the reference does.
  const at::Tensor xt = batch.reshape({-1, batch.size(2)}).t().to(at::kFloat) *
                        std::sqrt(2.0 / static_cast<double>(n_));  // [in, tokens]
  h_.addmm_(xt, xt.t());
}

}  // namespace lowbit
