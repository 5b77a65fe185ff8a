#include "framework/export/bit_packing.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "framework/core/error.h"

namespace lowbit {
namespace {

constexpr int64_t kChunkElements = int64_t{1} << 24;  // stream bits expanded at once: 128 MiB of int64

// [k]: 1, 2, 4, ..., 2^(k-1) as int64.
at::Tensor powers_of_two(int64_t k, const at::TensorOptions& o) {
  return at::ones({k}, o.dtype(at::kLong)).bitwise_left_shift(at::arange(k, o.dtype(at::kLong)));
}

}  // namespace

at::Tensor pack_bits(const at::Tensor& values, int bits) {
  LOWBIT_ASSERT(values.dim() == 2 && bits >= 1 && bits <= 8, "pack_bits: values [rows, n] and 1..8 bits");
  const int64_t rows = values.size(0), n = values.size(1), stream = n * bits, words = (stream + 31) / 32;
  const at::TensorOptions o = values.options();
  at::Tensor out = at::empty({rows, words}, o.dtype(at::kInt));
  const at::Tensor shifts = at::arange(bits, o.dtype(at::kLong)), word_bits = powers_of_two(32, o);
  const int64_t chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, words * 32));
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r = std::min(chunk, rows - r0);
    at::Tensor bit = values.slice(0, r0, r0 + r).to(at::kLong).unsqueeze(-1).bitwise_right_shift(shifts).bitwise_and(1);
    bit = at::constant_pad_nd(bit.reshape({r, stream}), {0, words * 32 - stream});  // [r, words * 32]
    at::Tensor w = (bit.view({r, words, 32}) * word_bits).sum(-1);                   // [r, words] in [0, 2^32)
    w = w - w.ge(int64_t{1} << 31).to(at::kLong) * (int64_t{1} << 32);              // as two's complement int32
    out.slice(0, r0, r0 + r).copy_(w);
  }
  return out;
}

at::Tensor unpack_bits(const at::Tensor& words, int bits, int64_t n) {
  LOWBIT_ASSERT(words.dim() == 2 && bits >= 1 && bits <= 8 && n * bits <= words.size(1) * 32,
                "unpack_bits: words [rows, W] with n * bits <= 32 W");
  const int64_t rows = words.size(0), w = words.size(1);
  const at::TensorOptions o = words.options();
  at::Tensor out = at::empty({rows, n}, o.dtype(at::kByte));
  const at::Tensor shifts = at::arange(32, o.dtype(at::kLong)), value_bits = powers_of_two(bits, o);
  const int64_t chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, w * 32));
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r = std::min(chunk, rows - r0);
    const at::Tensor u = words.slice(0, r0, r0 + r).to(at::kLong).bitwise_and(0xFFFFFFFFLL);  // the unsigned words
    const at::Tensor bit = u.unsqueeze(-1).bitwise_right_shift(shifts).bitwise_and(1).reshape({r, w * 32});
    out.slice(0, r0, r0 + r).copy_((bit.slice(1, 0, n * bits).reshape({r, n, bits}) * value_bits).sum(-1));
  }
  return out;
}

}  // namespace lowbit
