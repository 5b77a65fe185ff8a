#include "methods/common/gptq_solver.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "framework/core/error.h"
#include "methods/common/gptq_solver_detail.h"

namespace lowbit {
namespace {

// One row's grid, as minmax_grid computes it (GPTQ convention), in fp32 scalar arithmetic.
struct RowGrid {
  float scale, zero;
};

RowGrid row_grid(const float* x, int64_t n, float maxq, bool symmetric) {
  float lo = 0.f, hi = 0.f;  // zero forced into the range
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (symmetric) {
    hi = std::max(std::fabs(lo), hi);
    if (lo < 0) lo = -hi;
  }
  if (lo == 0.f && hi == 0.f) lo = -1.f, hi = 1.f;
  const float scale = (hi - lo) / maxq;
  const float zero = symmetric ? (maxq + 1.f) / 2.f : std::nearbyint(-lo / scale);
  return {scale, zero};
}

// Round half to even of |v| < 2^22 by the float magic number (exact under the default rounding
// mode, and vectorisable where std::nearbyint is a library call); larger values fall back.
inline float round_even(float v) {
  constexpr float kMagic = 12582912.f;  // 1.5 * 2^23
  return std::fabs(v) < 4194304.f ? (v + kMagic) - kMagic : std::nearbyint(v);
}

// The in-block GPTQ steps for one column on a tile of T rows held column-major (w1[k*T + t]):
// quantize column j of every row, then subtract its scaled error from the block's later columns.
// Compiled for AVX2 and for the baseline, chosen at load time.
__attribute__((target_clones("avx2", "default"))) void column_step(
    float* __restrict w1, float* __restrict err, float* __restrict q_out, float* __restrict code_out,
    float* __restrict loss_out, const float* __restrict s, const float* __restrict z, const float* __restrict urow,
    int64_t ustride, int64_t j, int64_t count, int64_t T, float maxq, float d) {
  float* x = w1 + j * T;
  float* e = err + j * T;
  for (int64_t t = 0; t < T; ++t) {
    const float q = std::min(std::max(round_even(x[t] / s[t]) + z[t], 0.f), maxq);
    const float deq = s[t] * (q - z[t]);
    const float diff = x[t] - deq;
    q_out[j * T + t] = deq;
    code_out[j * T + t] = q;
    loss_out[j * T + t] = diff * diff / (d * d) / 2.f;
    e[t] = diff / d;
  }
  for (int64_t k = j + 1; k < count; ++k) {
    const float u = urow[k * ustride];
    float* wk = w1 + k * T;
    for (int64_t t = 0; t < T; ++t) wk[t] -= e[t] * u;
  }
}

// Inverse of a lower-triangular m [n, n] by halves: inv([A 0; B C]) = [A⁻¹ 0; −C⁻¹ B A⁻¹  C⁻¹], the
// off-diagonal block by two triangular solves against A and C themselves — n³/3 flops in all, as
// LAPACK's trtri (which libtorch does not expose).
at::Tensor lower_triangular_inverse(const at::Tensor& m) {
  const int64_t n = m.size(0);
  if (n <= 256) return at::linalg_solve_triangular(m, at::eye(n, m.options()), /*upper=*/false);
  const int64_t h = n / 2;
  const at::Tensor a = m.narrow(0, 0, h).narrow(1, 0, h), b = m.narrow(0, h, n - h).narrow(1, 0, h),
                   c = m.narrow(0, h, n - h).narrow(1, h, n - h);
  at::Tensor out = m.stride(1) == 1 ? at::zeros({n, n}, m.options()) : at::zeros({n, n}, m.options()).t();  // m's order
  out.narrow(0, 0, h).narrow(1, 0, h).copy_(lower_triangular_inverse(a));
  out.narrow(0, h, n - h).narrow(1, h, n - h).copy_(lower_triangular_inverse(c));
  const at::Tensor b_ainv = at::linalg_solve_triangular(a, b, /*upper=*/false, /*left=*/false);  // B A⁻¹
  out.narrow(0, h, n - h).narrow(1, 0, h).copy_(at::linalg_solve_triangular(c, b_ainv, /*upper=*/false).neg_());
  return out;
}

}  // namespace

// J X J (both index orders reversed) of a dense [n, n] matrix is its storage reversed, whichever of
// row- or column-major it is stored in: a flat reversal, several times cheaper than at::flip on two
// dimensions. `x` must be contiguous in one of the two orders; the result keeps that order.
at::Tensor reverse_both_orders(const at::Tensor& x) {
  const bool row_major = x.is_contiguous();
  LOWBIT_ASSERT(row_major || x.t().is_contiguous(), "reverse_both_orders needs a dense matrix");
  const at::Tensor dense = row_major ? x : x.t();  // the same storage, viewed row-major
  const at::Tensor reversed = dense.reshape({-1}).flip(0).view(dense.sizes());
  return row_major ? reversed : reversed.t();
}

at::Tensor inverse_cholesky_upper(const at::Tensor& h, GptqFactorization route) {
  if (route == GptqFactorization::Reference)
    return at::linalg_cholesky(at::cholesky_inverse(at::linalg_cholesky(h)), /*upper=*/true).contiguous();
  // M comes back column-major (LAPACK's order), and so do M⁻¹ and U: the solver reads U through its
  // strides rather than paying for a transposed copy. (A row-major input measured faster here than
  // its column-major view: libtorch then factors with LAPACK's upper variant.)
  const at::Tensor m = at::linalg_cholesky(reverse_both_orders(h.contiguous()));  // J H J = M Mᵀ
  return reverse_both_orders(lower_triangular_inverse(m));                            // U = J M⁻¹ J
}

namespace gptq_detail {

Geometry check_arguments(const at::Tensor& w, const at::Tensor& h, const GptqOptions& opt) {
  LOWBIT_CHECK(w.dim() == 2 && h.dim() == 2 && h.size(0) == w.size(1) && h.size(1) == w.size(1),
               "GPTQ needs W [out, in] and H [in, in], got ", w.sizes(), " and ", h.sizes());
  LOWBIT_CHECK(w.device() == h.device(), "GPTQ needs W and H on one device, got W on ", w.device(), " and H on ",
               h.device());
  const int bits = opt.quant.bits;
  LOWBIT_CHECK(bits >= 1 && bits <= 8, "GPTQ bits must be in [1, 8], got ", bits);
  LOWBIT_CHECK(opt.block_size >= 1, "GPTQ block_size must be positive, got ", opt.block_size);
  LOWBIT_CHECK(opt.percdamp >= 0, "GPTQ percdamp must be non-negative, got ", opt.percdamp);
  Geometry geo;
  geo.rows = w.size(0), geo.cols = w.size(1);
  geo.grouped = opt.quant.group_size > 0;
  geo.group = geo.grouped ? opt.quant.group_size : geo.cols;
  LOWBIT_CHECK(!geo.grouped || geo.cols % geo.group == 0, "GPTQ group size ", geo.group,
               " does not divide the input size ", geo.cols);
  geo.n_groups = geo.cols / geo.group;
  geo.maxq = static_cast<float>((1 << bits) - 1);
  return geo;
}

void zero_dead_columns(at::Tensor& W, at::Tensor& H) {
  const at::Tensor dead = H.diagonal() == 0;  // [cols]
  H.diagonal().masked_fill_(dead, 1.0);
  W.masked_fill_(dead.unsqueeze(0), 0.0);
}

at::Tensor apply_act_order(at::Tensor& W, at::Tensor& H, bool act_order) {
  if (!act_order) return {};
  at::Tensor perm = at::argsort(H.diagonal(), /*stable=*/true, /*dim=*/0, /*descending=*/true);  // [cols]
  W = W.index_select(1, perm).contiguous();
  H = H.index_select(0, perm).index_select(1, perm);
  return perm;
}

at::Tensor damped_inverse_factor(at::Tensor& H, double percdamp, GptqFactorization factorization) {
  // mean(diag H) over a contiguous copy, as torch.mean(torch.diag(H)) sums it: the strided view
  // sums in another order (1 ulp apart on the small model's q_proj Hessian).
  H.diagonal().add_(H.diagonal().contiguous().mean() * percdamp);
  try {
    return inverse_cholesky_upper(H, factorization);
  } catch (const c10::Error&) {
    LOWBIT_FAIL("the Hessian is not positive definite even with damping ", percdamp,
                " (too few calibration tokens for ", H.size(0), " inputs?); raise method.damp");
  }
}

at::Tensor group_of_position(const Geometry& geo, const at::Tensor& perm, bool static_groups,
                             const at::TensorOptions& options) {
  const at::Tensor original = perm.defined() && static_groups ? perm : at::arange(geo.cols, options.dtype(at::kLong));
  return at::div(original, geo.group, "floor");  // [cols]
}

at::Tensor stored_group_index(const at::Tensor& group_of_pos, const at::Tensor& perm) {
  const at::Tensor g = group_of_pos.to(at::kInt);  // [cols], by position
  return perm.defined() ? at::empty_like(g).index_copy_(0, perm, g) : g;  // g_idx[perm[c]] = g[c]
}

// The row-tiled solver (CPU tensors): see the header.
GptqResult solve_rows(const at::Tensor& w_in, const at::Tensor& h_in, const GptqOptions& opt) {
  const Geometry geo = check_arguments(w_in, h_in, opt);
  LOWBIT_ASSERT(w_in.device().is_cpu(), "the row-tiled GPTQ solver takes CPU tensors, got ", w_in.device());
  const int64_t rows = geo.rows, cols = geo.cols, g = geo.group, n_groups = geo.n_groups;
  const bool grouped = geo.grouped, sym = opt.quant.symmetric;
  const float maxq = geo.maxq;

  at::Tensor W = w_in.to(at::kFloat).clone().contiguous();  // [rows, cols], updated in place
  at::Tensor scale = at::empty({rows, n_groups}, at::kFloat), zero = at::empty({rows, n_groups}, at::kFloat);
  float* S = scale.data_ptr<float>();
  float* Z = zero.data_ptr<float>();
  // Per channel: one grid per row, fitted on W as given (before dead columns are zeroed).
  if (!grouped)
    for (int64_t r = 0; r < rows; ++r) {
      const RowGrid rg = row_grid(W.data_ptr<float>() + r * cols, cols, maxq, sym);
      S[r] = rg.scale, Z[r] = rg.zero;
    }

  at::Tensor H = h_in.to(at::kFloat).clone();
  zero_dead_columns(W, H);

  std::vector<float> static_s, static_z;  // [groups][rows] grids on the original W
  if (grouped && opt.static_groups) {
    static_s.resize(n_groups * rows), static_z.resize(n_groups * rows);
    for (int64_t k = 0; k < n_groups; ++k)
      for (int64_t r = 0; r < rows; ++r) {
        const RowGrid rg = row_grid(W.data_ptr<float>() + r * cols + k * g, g, maxq, sym);
        static_s[k * rows + r] = rg.scale, static_z[k * rows + r] = rg.zero;
      }
  }

  const at::Tensor perm = apply_act_order(W, H, opt.act_order);
  const at::Tensor U = damped_inverse_factor(H, opt.percdamp, opt.factorization);  // upper Cholesky factor of H⁻¹

  at::Tensor Q = at::empty({rows, cols}, at::kFloat), codes = at::empty({rows, cols}, at::kByte);
  at::Tensor losses = at::zeros({rows, cols}, at::kFloat);
  const int64_t* P = opt.act_order ? perm.data_ptr<int64_t>() : nullptr;
  float* Wp = W.data_ptr<float>();
  float* Qp = Q.data_ptr<float>();
  uint8_t* Cp = codes.data_ptr<uint8_t>();
  float* Lp = losses.data_ptr<float>();
  const float* Up = U.data_ptr<float>();
  const int64_t us0 = U.stride(0), us1 = U.stride(1);  // U is row- or column-major by route

  for (int64_t i1 = 0; i1 < cols; i1 += opt.block_size) {
    const int64_t i2 = std::min(i1 + opt.block_size, cols), count = i2 - i1;
    at::Tensor err = at::empty({rows, count}, at::kFloat);  // [rows, count]
    float* E = err.data_ptr<float>();
    // Every row runs the block's columns in sequence; rows are independent, so tiles of rows go in
    // parallel, each tile's block (count x T floats) staying in cache.
    constexpr int64_t kTile = 64;
    at::parallel_for(0, (rows + kTile - 1) / kTile, 1, [&](int64_t tile0, int64_t tile1) {
      std::vector<float> w1(count * kTile), e1(count * kTile), q1(count * kTile), c1(count * kTile),
          l1(count * kTile), s(kTile), z(kTile);
      for (int64_t tile = tile0; tile < tile1; ++tile) {
        const int64_t r0 = tile * kTile, T = std::min(kTile, rows - r0);
        for (int64_t t = 0; t < T; ++t) {
          const float* wrow = Wp + (r0 + t) * cols;
          for (int64_t j = 0; j < count; ++j) w1[j * T + t] = wrow[i1 + j];
          if (!grouped) {
            s[t] = S[r0 + t], z[t] = Z[r0 + t];
          } else if (!opt.static_groups && i1 % g != 0) {  // a group that began in an earlier block
            s[t] = S[(r0 + t) * n_groups + i1 / g], z[t] = Z[(r0 + t) * n_groups + i1 / g];
          }
        }
        for (int64_t j = 0; j < count; ++j) {
          const int64_t c = i1 + j;  // position in the (possibly permuted) column order
          if (grouped && !opt.static_groups && c % g == 0) {
            for (int64_t t = 0; t < T; ++t) {
              // Fitted on the current global W (updated by earlier blocks), as the reference does.
              const RowGrid rg = row_grid(Wp + (r0 + t) * cols + c, g, maxq, sym);
              s[t] = rg.scale, z[t] = rg.zero;
              S[(r0 + t) * n_groups + c / g] = s[t], Z[(r0 + t) * n_groups + c / g] = z[t];
            }
          } else if (grouped && opt.static_groups) {
            const int64_t k = (P ? P[c] : c) / g;
            for (int64_t t = 0; t < T; ++t) s[t] = static_s[k * rows + r0 + t], z[t] = static_z[k * rows + r0 + t];
          }
          column_step(w1.data(), e1.data(), q1.data(), c1.data(), l1.data(), s.data(), z.data(),
                      Up + c * us0 + i1 * us1, us1, j, count, T, maxq, Up[c * us0 + c * us1]);
        }
        for (int64_t t = 0; t < T; ++t) {
          const int64_t r = r0 + t;
          for (int64_t j = 0; j < count; ++j) {
            Qp[r * cols + i1 + j] = q1[j * T + t];
            Cp[r * cols + i1 + j] = static_cast<uint8_t>(c1[j * T + t]);
            Lp[r * cols + i1 + j] = l1[j * T + t];
            E[r * count + j] = e1[j * T + t];
          }
        }
      }
    });
    if (i2 < cols)  // lazy update: W[:, i2:] -= Err · U[i1:i2, i2:]
      W.narrow(1, i2, cols - i2).addmm_(err, U.narrow(0, i1, count).narrow(1, i2, cols - i2), 1.0, -1.0);
  }

  GptqResult res;
  res.losses = losses.sum(0);
  res.g_idx = stored_group_index(group_of_position(geo, perm, opt.static_groups, W.options()), perm);
  if (P) {
    const at::Tensor inv = at::argsort(perm);
    Q = Q.index_select(1, inv);
    codes = codes.index_select(1, inv);
    res.losses = res.losses.index_select(0, inv);
  }
  if (grouped && opt.static_groups) {
    scale = at::from_blob(static_s.data(), {n_groups, rows}, at::kFloat).t().contiguous();
    zero = at::from_blob(static_z.data(), {n_groups, rows}, at::kFloat).t().contiguous();
  }
  res.weight = Q;
  res.codes = codes;
  res.scale = scale;
  res.zero = zero;
  return res;
}

}  // namespace gptq_detail

GptqResult gptq_quantize(const at::Tensor& w, const at::Tensor& h, const GptqOptions& opt) {
  const bool row_tiled = opt.route == GptqRoute::Auto && w.device().is_cpu() && h.device().is_cpu();
  return row_tiled ? gptq_detail::solve_rows(w, h, opt) : gptq_detail::solve_aten(w, h, opt);
}

}  // namespace lowbit
