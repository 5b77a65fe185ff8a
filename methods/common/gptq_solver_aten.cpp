// GPTQ's device route (gptq_solver.h): the reference's column loop in ATen tensor ops, so that it
// runs wherever the tensors are. Each column is quantized for all rows at once; the rank-1 update
// of the block's later columns and the lazy update of the columns after the block are the
// reference's, op for op, so the rounding is the reference's (and the row-tiled solver's) on CPU.
//
// Nothing in the loops reads a value back to the host: group grids are fitted for a whole block
// at its start, grids and pivots are selected by views and device-side gathers, and the only
// host synchronisation of a solve is in the factorisation's positive-definiteness check.
#include <ATen/ATen.h>

#include <algorithm>

#include "methods/common/gptq_solver_detail.h"
#include "methods/common/uniform_quantizer.h"

namespace lowbit::gptq_detail {
namespace {

struct Grids {
  at::Tensor scale, zero;  // [rows, groups] fp32
};

// Grids of the k groups of g columns in x [rows, k * g], as minmax_grid fits them (one grid per
// (row, group)): [rows, k] each.
Grids fit_groups(const at::Tensor& x, int64_t g, int bits, bool symmetric) {
  const int64_t rows = x.size(0), k = x.size(1) / g;
  const QuantGrid grid = minmax_grid(x.reshape({rows * k, g}), bits, symmetric);  // [rows * k, 1]
  return {grid.scale.reshape({rows, k}), grid.zero.reshape({rows, k})};
}

// Non-static groups are fitted when the loop reaches their first column, on the W of that moment.
// Within a block, W changes only in the block's own copy (the lazy update comes at its end), so
// the W of that moment is the W at the block's start, and every group that begins in the block
// can be fitted there, in one go. A group reaching past the block sees the same W as in the
// reference, which fits it from the global W too.
void fit_groups_starting_in(const at::Tensor& W, Grids& grids, int64_t i1, int64_t i2, int64_t g, int bits,
                            bool symmetric) {
  const int64_t first = (i1 + g - 1) / g, end = (i2 - 1) / g + 1;  // groups whose first column is in [i1, i2)
  if (first >= end) return;
  const Grids fitted = fit_groups(W.narrow(1, first * g, (end - first) * g), g, bits, symmetric);
  grids.scale.narrow(1, first, end - first).copy_(fitted.scale);
  grids.zero.narrow(1, first, end - first).copy_(fitted.zero);
}

// The block's working state: its columns of W as the in-block updates leave them, and what each
// column's quantization produced. All [rows, count] fp32.
struct Block {
  at::Tensor w;     // W[:, i1:i2], updated by the rank-1 steps (column j keeps its value once quantized)
  at::Tensor code;  // integer codes (as floats)
  at::Tensor deq;   // dequantized values
  at::Tensor err;   // (w - deq) / d, the reference's Err1
};

// One column of the block, as the reference's inner loop: quantize column j of every row with its
// grid (s, z: [rows]), record the scaled error, and subtract it, weighted by the pivot row's u
// [count - j - 1], from the block's later columns. Separate multiply and subtract kernels: the
// reference rounds the product before the subtraction (no fused multiply-add).
void column_step(Block& b, int64_t j, const at::Tensor& s, const at::Tensor& z, const at::Tensor& d,
                 const at::Tensor& u, float maxq) {
  const at::Tensor w = b.w.select(1, j);  // [rows]
  at::Tensor code = b.code.select(1, j), deq = b.deq.select(1, j), err = b.err.select(1, j);
  at::div_out(code, w, s).round_().add_(z).clamp_(0, maxq);  // clamp(round(w / s) + z, 0, maxq)
  at::sub_out(deq, code, z).mul_(s);                          // s * (q - z)
  at::sub_out(err, w, deq).div_(d);                           // (w - q) / d
  const int64_t later = b.w.size(1) - j - 1;
  if (later > 0) b.w.narrow(1, j + 1, later).sub_(err.unsqueeze(1) * u.unsqueeze(0));  // [rows, later]
}

}  // namespace

GptqResult solve_aten(const at::Tensor& w_in, const at::Tensor& h_in, const GptqOptions& opt) {
  const Geometry geo = check_arguments(w_in, h_in, opt);
  const int64_t rows = geo.rows, cols = geo.cols, g = geo.group;
  const int bits = opt.quant.bits;
  const bool sym = opt.quant.symmetric;

  at::Tensor W = w_in.to(at::kFloat).clone().contiguous();  // [rows, cols], updated in place
  const at::TensorOptions f32 = W.options();
  Grids grids;  // [rows, groups]
  // Per channel: one grid per row, fitted on W as given (before dead columns are zeroed).
  if (!geo.grouped) grids = fit_groups(W, cols, bits, sym);

  at::Tensor H = h_in.to(at::kFloat).clone();  // [cols, cols]
  zero_dead_columns(W, H);
  if (geo.grouped && opt.static_groups) {
    grids = fit_groups(W, g, bits, sym);  // on the original W, in the original column order
  } else if (geo.grouped) {
    grids = {at::empty({rows, geo.n_groups}, f32), at::empty({rows, geo.n_groups}, f32)};
  }

  const at::Tensor perm = apply_act_order(W, H, opt.act_order);
  const at::Tensor U = damped_inverse_factor(H, opt);           // [cols, cols] upper, row- or column-major
  H = at::Tensor();  // not needed any more: [cols, cols] less device memory during the loop
  const at::Tensor pivot = U.diagonal();                        // [cols] d of each column
  const at::Tensor pivot_sq = pivot * pivot;                    // [cols] d² as the reference rounds it
  const at::Tensor group_of_pos = group_of_position(geo, perm, opt.static_groups, f32);  // [cols]

  at::Tensor Q = at::empty({rows, cols}, f32), codes = at::empty({rows, cols}, f32.dtype(at::kByte));
  at::Tensor losses = at::empty({rows, cols}, f32);
  for (int64_t i1 = 0; i1 < cols; i1 += opt.block_size) {
    const int64_t i2 = std::min(i1 + opt.block_size, cols), count = i2 - i1;
    if (geo.grouped && !opt.static_groups) fit_groups_starting_in(W, grids, i1, i2, g, bits, sym);
    // Each column's grid, gathered on the device: [rows, count].
    const at::Tensor block_groups = group_of_pos.narrow(0, i1, count);
    const at::Tensor S = grids.scale.index_select(1, block_groups), Z = grids.zero.index_select(1, block_groups);

    Block b{W.narrow(1, i1, count).clone(), at::empty({rows, count}, f32), at::empty({rows, count}, f32),
            at::empty({rows, count}, f32)};
    for (int64_t j = 0; j < count; ++j) {
      const int64_t c = i1 + j;  // position in the (possibly permuted) column order
      const at::Tensor u = U.select(0, c).narrow(0, c + 1, count - j - 1);  // [count - j - 1] U[c, c+1:i2]
      column_step(b, j, S.select(1, j), Z.select(1, j), pivot.select(0, c), u, geo.maxq);
    }

    Q.narrow(1, i1, count).copy_(b.deq);
    codes.narrow(1, i1, count).copy_(b.code);
    const at::Tensor diff = b.w - b.deq;  // [rows, count] w - q of each column when it was quantized
    losses.narrow(1, i1, count).copy_(diff * diff / pivot_sq.narrow(0, i1, count) / 2);  // (w - q)² / d² / 2
    if (i2 < cols)  // lazy update: W[:, i2:] -= Err · U[i1:i2, i2:]
      W.narrow(1, i2, cols - i2).addmm_(b.err, U.narrow(0, i1, count).narrow(1, i2, cols - i2), 1.0, -1.0);
  }

  GptqResult res;
  res.losses = losses.sum(0);  // [cols]
  res.g_idx = stored_group_index(group_of_pos, perm);
  if (perm.defined()) {  // back to the original column order
    const at::Tensor inv = at::argsort(perm);
    Q = Q.index_select(1, inv);
    codes = codes.index_select(1, inv);
    res.losses = res.losses.index_select(0, inv);
  }
  res.weight = Q;
  res.codes = codes;
  res.scale = grids.scale;
  res.zero = grids.zero;
  return res;
}

}  // namespace lowbit::gptq_detail
