#include "methods/common/hessian.h"

#include <ATen/ATen.h>

#include <cmath>

#include "framework/core/error.h"

namespace lowbit {

HessianAccumulator::HessianAccumulator(int64_t in_features) : h_(at::zeros({in_features, in_features}, at::kFloat)) {}

void HessianAccumulator::add(const at::Tensor& x) {
  const at::Tensor batch = x.dim() == 2 ? x.unsqueeze(0) : x;  // [sequences, tokens, in]
  LOWBIT_CHECK(batch.dim() == 3 && batch.size(2) == h_.size(0), "Hessian input must be [sequences, tokens, ",
               h_.size(0), "], got ", batch.sizes());
  const int64_t added = batch.size(0);
  h_.mul_(static_cast<double>(n_) / static_cast<double>(n_ + added));
  n_ += added;
  const at::Tensor xt = batch.reshape({-1, batch.size(2)}).t().to(at::kFloat) *
                        std::sqrt(2.0 / static_cast<double>(n_));  // [in, tokens]
  h_.addmm_(xt, xt.t());
}

}  // namespace lowbit
