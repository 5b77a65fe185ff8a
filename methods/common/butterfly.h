// QuIP's random orthogonal "butterfly" transforms (Cornell-RelaxML/QuIP method.py:
// butterfly_factors, gen_rand_ortho_butterfly, mul_ortho_butterfly), drawn from lowbit's own
// seeded stream so a shard's transform is a function of (run seed, block, module) alone. An n × n
// orthogonal B = P_out · S_2 · S_1 · P_in: P_in, P_out random permutations; n = p1 · p2 (the prime
// factors of n split alternately: 4096 = 64·64, 14336 = 64·224, 1024 = 32·32); S_i applies n / p_i
// independent random special-orthogonal p_i × p_i blocks along the i-th Kronecker axis (the blocked
// form, pre_proj_extra 0, which QuIP's --incoh_processing leaves in force). Applying it costs
// O(n · (p1 + p2)) per column; the dense n × n matrix is only for tests.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

namespace lowbit {

class SeededStream;

struct Butterfly {
  int64_t n = 0;
  std::array<int64_t, 2> factors{1, 1};  // p1, p2 with p1 · p2 = n
  at::Tensor perm_in, perm_out;          // [n] int64
  std::array<at::Tensor, 2> blocks;      // [n / p_i, p_i, p_i] float64, special orthogonal
};

// QuIP's butterfly_factors: the prime factors of n in ascending order, products of the even- and
// odd-indexed ones.
std::array<int64_t, 2> butterfly_factors(int64_t n);

// A random special-orthogonal p × p matrix (Haar: QR of a Gaussian matrix with R's signs moved
// into Q, a column negated if det = -1), float64 [p, p]; p = 2: a rotation by a uniform angle.
at::Tensor random_special_orthogonal(int64_t p, SeededStream& stream);

// Draws a butterfly of dimension n: perm_in, the blocks of p1, those of p2, perm_out, in that order.
Butterfly make_butterfly(int64_t n, SeededStream& stream);

// x [n, q] (any float dtype, any device) -> B · x, or Bᵀ · x, in x's dtype.
at::Tensor butterfly_apply(const Butterfly& b, const at::Tensor& x, bool transpose = false);

// left · x · rightᵀ, or with `inverse` leftᵀ · x · right (QuIP's W -> U W Vᵀ and back), in float64:
// x [left.n, right.n] any float dtype -> [left.n, right.n] float64 on x's device. The rows, then
// the columns, go through in chunks of about 2^22 entries, so the temporaries beside the float64
// result stay small: nothing n × n is formed.
at::Tensor butterfly_sandwich(const Butterfly& left, const at::Tensor& x, const Butterfly& right, bool inverse);

// B as a dense [n, n] float64 matrix (B applied to I): for tests and small dimensions only.
at::Tensor butterfly_dense(const Butterfly& b);

}  // namespace lowbit
