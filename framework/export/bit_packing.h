// Dense little-endian bit packing into int32 words, the layout GPTQ, AWQ and compressed-tensors
// checkpoints share: value j of a row occupies bits [j*b, (j+1)*b) of the row's bit stream, and
// word w holds stream bits [32w, 32w + 32), least significant first. For b = 2, 4, 8 a word holds
// 32/b whole values; for b = 3 values 10 and 21 of every 32 straddle two words (GPTQ's 3-bit layout
// is exactly this stream). ATen ops on any device, in row chunks of bounded memory.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lowbit {

// values [rows, n] (integers in [0, 2^bits), any integer dtype) -> int32 [rows, ceil(n*bits/32)].
at::Tensor pack_bits(const at::Tensor& values, int bits);
// The inverse: words [rows, W] int32 -> uint8 [rows, n] (n*bits <= 32*W; the rest of the stream is ignored).
at::Tensor unpack_bits(const at::Tensor& words, int bits, int64_t n);

}  // namespace lowbit
