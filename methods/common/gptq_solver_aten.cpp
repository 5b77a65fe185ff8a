// GPTQ's device route (gptq_solver.h): the shared error-feedback loop (error_feedback.h) with the
// uniform grid as its column quantizer, so that it runs wherever the tensors are. Each column is
// quantized for all rows at once; the rank-1 update of the block's later columns and the lazy update
// of the columns after the block are the reference's, op for op, so the rounding is the reference's
// (and the row-tiled solver's) on CPU.
//
// Nothing in the loops reads a value back to the host: group grids are fitted for a whole block
// at its start, grids and pivots are selected by views and device-side gathers, and the only
// host synchronisation of a solve is in the factorisation's positive-definiteness check.
#include <ATen/ATen.h>

#include <algorithm>

#include "methods/common/error_feedback.h"
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

// GPTQ's quantizer in the shared column loop: the uniform grid of each column's group, fitted per
// channel on W as given, per group on the original W (static groups) or per group on the current W
// when the loop reaches the group (fitted at the start of the block that holds the group's first
// column); codes recorded per column.
class UniformColumnQuantizer : public ColumnQuantizer {
 public:
  UniformColumnQuantizer(const Geometry& geo, const GptqOptions& opt) : geo_(geo), opt_(opt) {}

  void before_dead_columns(const at::Tensor& w) override {
    // Per channel: one grid per row, fitted on W as given (before dead columns are zeroed).
    if (!geo_.grouped) grids_ = fit_groups(w, geo_.cols, opt_.quant.bits, opt_.quant.symmetric);
  }
  void prepare(const at::Tensor& w_original, const at::Tensor& w, const at::Tensor& perm, const at::Tensor&) override {
    const at::TensorOptions f32 = w.options();
    if (geo_.grouped && opt_.static_groups)  // on the original W, in the original column order
      grids_ = fit_groups(w_original, geo_.group, opt_.quant.bits, opt_.quant.symmetric);
    else if (geo_.grouped)
      grids_ = {at::empty({geo_.rows, geo_.n_groups}, f32), at::empty({geo_.rows, geo_.n_groups}, f32)};
    group_of_pos_ = gptq_detail::group_of_position(geo_, perm, opt_.static_groups, f32);  // [cols]
    codes_ = at::empty({geo_.rows, geo_.cols}, f32.dtype(at::kByte));
  }
  void begin_block(const at::Tensor& w, int64_t i1, int64_t i2) override {
    if (geo_.grouped && !opt_.static_groups)
      fit_groups_starting_in(w, grids_, i1, i2, geo_.group, opt_.quant.bits, opt_.quant.symmetric);
    // Each column's grid, gathered on the device: [rows, count].
    const at::Tensor block_groups = group_of_pos_.narrow(0, i1, i2 - i1);
    S_ = grids_.scale.index_select(1, block_groups);
    Z_ = grids_.zero.index_select(1, block_groups);
    block_codes_ = at::empty({geo_.rows, i2 - i1}, w.options());
    i1_ = i1;
  }
  void quantize_column(const at::Tensor& w, int64_t c, at::Tensor& out) override {
    const int64_t j = c - i1_;
    const at::Tensor s = S_.select(1, j), z = Z_.select(1, j);
    at::Tensor code = block_codes_.select(1, j);
    at::div_out(code, w, s).round_().add_(z).clamp_(0, geo_.maxq);  // clamp(round(w / s) + z, 0, maxq)
    at::sub_out(out, code, z).mul_(s);                                // s * (q - z)
  }
  void end_block(int64_t i1, int64_t i2) override { codes_.narrow(1, i1, i2 - i1).copy_(block_codes_); }

  const Grids& grids() const { return grids_; }
  const at::Tensor& codes() const { return codes_; }                // [rows, cols] u8, loop order
  const at::Tensor& positions_group() const { return group_of_pos_; }

 private:
  Geometry geo_;
  GptqOptions opt_;
  Grids grids_;                       // [rows, groups]
  at::Tensor group_of_pos_;           // [cols]
  at::Tensor codes_, block_codes_, S_, Z_;
  int64_t i1_ = 0;
};

}  // namespace

GptqResult solve_aten(const at::Tensor& w_in, const at::Tensor& h_in, const GptqOptions& opt) {
  const Geometry geo = check_arguments(w_in, h_in, opt);
  UniformColumnQuantizer q(geo, opt);
  ErrorFeedbackOptions loop;
  loop.percdamp = opt.percdamp;
  loop.block_size = opt.block_size;
  loop.act_order = opt.act_order;
  loop.factorization = opt.factorization;
  const ErrorFeedbackResult r = error_feedback_solve(w_in, h_in, q, loop);

  GptqResult res;
  res.weight = r.weight;
  res.losses = r.losses;
  res.g_idx = stored_group_index(q.positions_group(), r.perm);
  res.codes = r.perm.defined() ? q.codes().index_select(1, at::argsort(r.perm)) : q.codes();  // original order
  res.scale = q.grids().scale;
  res.zero = q.grids().zero;
  return res;
}

}  // namespace lowbit::gptq_detail
