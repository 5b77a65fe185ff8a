#include "methods/common/error_feedback.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "framework/core/error.h"
#include "methods/common/gptq_solver_detail.h"
#include "methods/method.h"

namespace lowbit {

ErrorFeedbackResult error_feedback_solve(const at::Tensor& w_in, const at::Tensor& h_in, ColumnQuantizer& q,
                                         const ErrorFeedbackOptions& opt) {
  LOWBIT_CHECK(w_in.dim() == 2 && h_in.dim() == 2 && h_in.size(0) == w_in.size(1) && h_in.size(1) == w_in.size(1),
               "error feedback: W ", w_in.sizes(), " and H ", h_in.sizes(), " do not fit ([out, in] and [in, in])");
  LOWBIT_CHECK(w_in.device() == h_in.device(), "error feedback: W on ", w_in.device(), ", H on ", h_in.device());
  LOWBIT_CHECK(opt.block_size >= 1, "error feedback: block size must be >= 1, got ", opt.block_size);
  const int64_t rows = w_in.size(0), cols = w_in.size(1);

  at::Tensor W = w_in.to(at::kFloat).clone().contiguous();  // [rows, cols], updated in place
  const at::TensorOptions f32 = W.options();
  q.before_dead_columns(W);
  at::Tensor H = h_in.to(at::kFloat).clone();  // [cols, cols]
  gptq_detail::zero_dead_columns(W, H);
  at::Tensor W_original = W;  // the same tensor unless act-order permutes W into a new one
  const at::Tensor perm = gptq_detail::apply_act_order(W, H, opt.act_order);
  const at::Tensor U = gptq_detail::damped_inverse_factor(H, opt.percdamp, opt.factorization);  // [cols, cols] upper
  H = at::Tensor();  // [cols, cols] less memory during the loop
  q.prepare(W_original, W, perm, U);
  W_original = at::Tensor();
  const at::Tensor pivot = U.diagonal();      // [cols] d of each column
  const at::Tensor pivot_sq = pivot * pivot;  // [cols] d² as the reference rounds it

  at::Tensor Q = at::empty({rows, cols}, f32), losses = at::empty({rows, cols}, f32);
  for (int64_t i1 = 0; i1 < cols; i1 += opt.block_size) {
    const int64_t i2 = std::min(i1 + opt.block_size, cols), count = i2 - i1;
    q.begin_block(W, i1, i2);
    // The block's columns as the in-block updates leave them (column j keeps its value once
    // quantized), their dequantized values and the scaled errors (the reference's W1, Q1, Err1).
    const at::Tensor bw = W.narrow(1, i1, count).clone(), deq = at::empty({rows, count}, f32),
                     err = at::empty({rows, count}, f32);
    for (int64_t j = 0; j < count; ++j) {
      const int64_t c = i1 + j;
      const at::Tensor w = bw.select(1, j);
      at::Tensor d = deq.select(1, j), e = err.select(1, j);
      q.quantize_column(w, c, d);
      at::sub_out(e, w, d).div_(pivot.select(0, c));  // (w - q) / d
      const int64_t later = count - j - 1;
      if (opt.intra_block_updates && later > 0)  // W1[:, j+1:] -= e ⊗ U[c, c+1:i2]: multiply, then subtract
        bw.narrow(1, j + 1, later).sub_(e.unsqueeze(1) * U.select(0, c).narrow(0, c + 1, later).unsqueeze(0));
    }
    q.end_block(i1, i2);
    Q.narrow(1, i1, count).copy_(deq);
    const at::Tensor diff = bw - deq;  // [rows, count] w - q of each column when it was quantized
    losses.narrow(1, i1, count).copy_(diff * diff / pivot_sq.narrow(0, i1, count) / 2);
    if (i2 < cols)  // lazy update: W[:, i2:] -= Err · U[i1:i2, i2:]
      W.narrow(1, i2, cols - i2).addmm_(err, U.narrow(0, i1, count).narrow(1, i2, cols - i2), 1.0, -1.0);
  }

  ErrorFeedbackResult r;
  r.losses = losses.sum(0);  // [cols]
  r.perm = perm;
  if (perm.defined()) {  // back to the original column order
    const at::Tensor inv = at::argsort(perm);
    Q = Q.index_select(1, inv);
    r.losses = r.losses.index_select(0, inv);
  }
  r.weight = Q;
  return r;
}

QuantizedLinear error_feedback_artifact(const at::Tensor& w, const at::Tensor& h, ArtifactColumnQuantizer& q,
                                        const ErrorFeedbackOptions& options, const std::string& where) {
  const ErrorFeedbackResult r = error_feedback_solve(w, h, q, options);
  QuantizedLinear a = q.artifact(where);
  a.loss = r.losses.sum().item<double>();
  return a;
}

}  // namespace lowbit
