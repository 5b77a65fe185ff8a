// Internal to methods/common/gptq_solver*.cpp: the steps both GPTQ routes share (argument checks,
// dead inputs, act-order, damping and factorisation, g_idx), and the two routes themselves.
// Sharing them keeps the routes identical everywhere except in the column loop.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "methods/common/gptq_solver.h"

namespace lowbit::gptq_detail {

struct Geometry {
  int64_t rows = 0, cols = 0;
  bool grouped = false;
  int64_t group = 0;     // columns per group (cols when per channel)
  int64_t n_groups = 0;  // cols / group
  float maxq = 0;        // 2^bits - 1
};

// Checks shapes, options and devices; throws lowbit::Error naming what is wrong.
Geometry check_arguments(const at::Tensor& w, const at::Tensor& h, const GptqOptions& opt);

// Dead inputs (diag H == 0): their weights are zeroed and their diagonal set to 1, in place.
// W [rows, cols], H [cols, cols].
void zero_dead_columns(at::Tensor& W, at::Tensor& H);

// With act-order, the columns in order of decreasing diag(H) (stable): perm [cols] (long), with W
// and H permuted accordingly (replaced, W contiguous). Without act-order, an undefined tensor.
at::Tensor apply_act_order(at::Tensor& W, at::Tensor& H, bool act_order);

// Damps H in place (λ = percdamp · mean(diag H), in fp32 tensor arithmetic as the reference does: a
// double product rounds differently, enough to move a near-tie of a later column) and returns U,
// the upper Cholesky factor of H⁻¹. A Hessian that is not positive definite is a lowbit::Error.
at::Tensor damped_inverse_factor(at::Tensor& H, double percdamp, GptqFactorization factorization);

// The group of the column at each position of the (possibly permuted) order, [cols] long on perm's
// or W's device: position / group, except with static groups, where a column keeps the group of its
// original index (perm[position] / group). Per channel: all 0.
at::Tensor group_of_position(const Geometry& geo, const at::Tensor& perm, bool static_groups,
                             const at::TensorOptions& options);

// g_idx as stored [cols] int32: the group of each input column in the original order.
at::Tensor stored_group_index(const at::Tensor& group_of_pos, const at::Tensor& perm);

// The two routes (gptq_quantize dispatches). solve_rows takes CPU tensors only.
GptqResult solve_rows(const at::Tensor& w, const at::Tensor& h, const GptqOptions& opt);
GptqResult solve_aten(const at::Tensor& w, const at::Tensor& h, const GptqOptions& opt);

}  // namespace lowbit::gptq_detail
