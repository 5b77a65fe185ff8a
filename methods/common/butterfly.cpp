#include "methods/common/butterfly.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "framework/core/error.h"
#include "methods/common/seeded_stream.h"

namespace lowbit {

std::array<int64_t, 2> butterfly_factors(int64_t n) {
  LOWBIT_CHECK(n >= 1, "butterfly: dimension ", n);
  std::vector<int64_t> primes;
  for (int64_t m = n, d = 2; m > 1;) {
    if (d * d > m) {
      primes.push_back(m);
      break;
    }
    if (m % d == 0) {
      primes.push_back(d);
      m /= d;
    } else {
      ++d;
    }
  }
  std::array<int64_t, 2> f{1, 1};
  for (size_t i = 0; i < primes.size(); ++i) f[i % 2] *= primes[i];
  return f;
}

// Drawn on the host in float64 by design, not a kernel on a rank's tensors: the same numbers
// whatever device (or library) the rank computes on is what makes a shard's transform
// reproducible from its seed. p is at most a few hundred; the blocks then travel to the device.
at::Tensor random_special_orthogonal(int64_t p, SeededStream& stream) {
  std::vector<double> Q(p * p, 0.0);  // row-major, starts as I
  for (int64_t i = 0; i < p; ++i) Q[i * p + i] = 1;
  auto as_tensor = [&] { return at::tensor(Q, at::kDouble).view({p, p}); };
  if (p == 1) return as_tensor();
  if (p == 2) {  // QuIP draws 2 × 2 blocks as rotations: [[cos t, sin t], [-sin t, cos t]]
    const double t = stream.uniform() * 2 * M_PI;
    Q = {std::cos(t), std::sin(t), -std::sin(t), std::cos(t)};
    return as_tensor();
  }
  // Householder QR of a Gaussian A (row-major, in place): A = H_1 ... H_{p-1} R; Q = H_1 ... H_{p-1},
  // then Q · diag(sign R_jj) (Haar), then the first column negated if det Q = -1.
  std::vector<double> a(p * p);
  for (double& x : a) x = stream.normal();
  std::vector<std::vector<double>> vs;
  int det_sign = 1;
  for (int64_t k = 0; k < p - 1; ++k) {
    double norm = 0;
    for (int64_t i = k; i < p; ++i) norm += a[i * p + k] * a[i * p + k];
    norm = std::sqrt(norm);
    std::vector<double> v(p, 0.0);
    const double alpha = a[k * p + k] >= 0 ? -norm : norm;  // reflect onto -sign(a_kk)·|x|·e_k
    for (int64_t i = k; i < p; ++i) v[i] = a[i * p + k];
    v[k] -= alpha;
    double vv = 0;
    for (int64_t i = k; i < p; ++i) vv += v[i] * v[i];
    if (vv == 0) {  // already upper triangular in this column: no reflection
      vs.emplace_back();
      continue;
    }
    for (int64_t j = k; j < p; ++j) {  // A <- (I - 2 v vᵀ / vᵀv) A
      double dot = 0;
      for (int64_t i = k; i < p; ++i) dot += v[i] * a[i * p + j];
      const double f = 2 * dot / vv;
      for (int64_t i = k; i < p; ++i) a[i * p + j] -= f * v[i];
    }
    vs.push_back(std::move(v));
    det_sign = -det_sign;
  }
  for (int64_t k = p - 2; k >= 0; --k) {  // Q = H_1 (H_2 (... I)): apply reflections right to left
    const std::vector<double>& v = vs[k];
    if (v.empty()) continue;
    double vv = 0;
    for (int64_t i = k; i < p; ++i) vv += v[i] * v[i];
    for (int64_t j = 0; j < p; ++j) {
      double dot = 0;
      for (int64_t i = k; i < p; ++i) dot += v[i] * Q[i * p + j];
      const double f = 2 * dot / vv;
      for (int64_t i = k; i < p; ++i) Q[i * p + j] -= f * v[i];
    }
  }
  for (int64_t j = 0; j < p; ++j)  // Q · diag(sign R_jj)
    if (a[j * p + j] < 0) {
      det_sign = -det_sign;
      for (int64_t i = 0; i < p; ++i) Q[i * p + j] = -Q[i * p + j];
    }
  if (det_sign < 0)
    for (int64_t i = 0; i < p; ++i) Q[i * p] = -Q[i * p];
  return as_tensor();
}

Butterfly make_butterfly(int64_t n, SeededStream& stream) {
  Butterfly b;
  b.n = n;
  b.factors = butterfly_factors(n);
  auto perm = [&] {
    const std::vector<int64_t> p = stream.permutation(n);
    return at::tensor(p, at::kLong);
  };
  b.perm_in = perm();
  for (int i = 0; i < 2; ++i) {
    const int64_t p = b.factors[i];
    std::vector<at::Tensor> blocks;
    for (int64_t k = 0; k < n / p; ++k) blocks.push_back(random_special_orthogonal(p, stream));
    b.blocks[i] = at::stack(blocks);  // [n / p, p, p]
  }
  b.perm_out = perm();
  return b;
}

at::Tensor butterfly_apply(const Butterfly& b, const at::Tensor& x_in, bool transpose) {
  LOWBIT_CHECK(x_in.dim() == 2 && x_in.size(0) == b.n, "butterfly: x ", x_in.sizes(), " for dimension ", b.n);
  const int64_t n = b.n, q = x_in.size(1);
  const at::Device dev = x_in.device();
  at::Tensor x = x_in;
  // One Kronecker axis: x viewed as [prefix, p, suffix, q], the block of each (prefix, suffix) pair
  // applied along p (QuIP's reshape / permute / batched matmul).
  auto axis = [&](int i) {
    const int64_t p = b.factors[i], pre = i == 0 ? 1 : b.factors[0], suf = i == 0 ? b.factors[1] : 1;
    at::Tensor blk = b.blocks[i].to(dev, x.scalar_type());  // [n / p, p, p]
    if (transpose) blk = blk.transpose(1, 2);
    at::Tensor y = x.reshape({pre, p, suf, q}).permute({0, 2, 1, 3}).reshape({pre * suf, p, q});
    y = at::bmm(blk, y);
    x = y.reshape({pre, suf, p, q}).permute({0, 2, 1, 3}).reshape({n, q});
  };
  if (!transpose) {
    x = x.index_select(0, b.perm_in.to(dev));
    axis(0);
    axis(1);
    return x.index_select(0, b.perm_out.to(dev));
  }
  // Bᵀ = P_inᵀ S_1ᵀ S_2ᵀ P_outᵀ; a permutation's transpose scatters where it gathered.
  x = at::empty_like(x).index_copy_(0, b.perm_out.to(dev), x);
  axis(1);
  axis(0);
  return at::empty_like(x).index_copy_(0, b.perm_in.to(dev), x);
}

at::Tensor butterfly_sandwich(const Butterfly& left, const at::Tensor& x, const Butterfly& right, bool inverse) {
  LOWBIT_CHECK(x.dim() == 2 && x.size(0) == left.n && x.size(1) == right.n, "butterfly: x ", x.sizes(), " between ",
               left.n, " and ", right.n);
  const int64_t m = x.size(0), n = x.size(1), chunk = int64_t{1} << 22;
  at::Tensor y = at::empty({m, n}, x.options().dtype(at::kDouble));  // [m, n]
  // x · rightᵀ = (right · xᵀ)ᵀ, and x · right = (rightᵀ · xᵀ)ᵀ: rows of x at a time.
  const int64_t rows = std::max<int64_t>(1, chunk / std::max<int64_t>(n, 1));
  for (int64_t r = 0; r < m; r += rows) {
    const int64_t k = std::min(rows, m - r);
    y.narrow(0, r, k).copy_(butterfly_apply(right, x.narrow(0, r, k).to(at::kDouble).t(), inverse).t());
  }
  // left · y (or leftᵀ · y): columns of y at a time, in place.
  const int64_t cols = std::max<int64_t>(1, chunk / std::max<int64_t>(m, 1));
  for (int64_t c = 0; c < n; c += cols) {
    const int64_t k = std::min(cols, n - c);
    y.narrow(1, c, k).copy_(butterfly_apply(left, y.narrow(1, c, k), inverse));
  }
  return y;
}

at::Tensor butterfly_dense(const Butterfly& b) { return butterfly_apply(b, at::eye(b.n, at::kDouble)); }

}  // namespace lowbit
