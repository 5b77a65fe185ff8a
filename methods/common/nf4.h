// NormalFloat-4 with double quantization as bitsandbytes computes it on the CPU (0.50.2:
// functional.quantize_4bit(..., quant_type="nf4", compress_statistics=True), whose CPU path is the
// default backend's ATen ops, and quantize_blockwise's CPU kernel for the double quantization;
// METHODS.md §13). The weight is flattened row-major into blocks of 64:
//   absmax_b = max |w| over the block (fp32);
//   x = w · (1 / absmax_b) (a partial last block: w / max(absmax_b, 1e-38), the clamped value stored),
//       clamped to [−1, 1];
//   code = the number of the 15 code-book midpoints strictly below x (a tie goes to the lower code);
//   two codes per byte, the first in the high nibble (an odd count is padded with x = 0: code 7).
// Double quantization: offset = mean(absmax) (fp32, torch's CPU mean); absmax − offset quantized in
// blocks of 256 to the 8-bit signed dynamic map by the CPU kernel's rule: v = x · (1 / absmax2),
// i = ⌊((clamp(v, −1, 1) + 1) · 0.5 · 65535) + 0.5⌋, code = the number of the map's midpoints strictly
// below −1 + 2i / 65535 (a 65536-entry table; not always the nearest value: the kernel's rule).
// Dequantized: absmax = map[q] · absmax2 + offset; w = code_book[code] · absmax (fp32).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lowbit {

// The 16 NF4 values, fp32 [16] (bitsandbytes' table: normal quantiles, exact 0, ±1).
at::Tensor nf4_code_book();
// bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): fp32 [256], sorted.
at::Tensor bnb_dynamic_map();

struct Nf4State {
  at::Tensor packed;         // u8 [(n + 1) / 2]
  at::Tensor absmax;         // f32 [blocks], or u8 [blocks] with double quantization
  at::Tensor nested_absmax;  // f32 [ceil(blocks / 256)] (double quantization)
  at::Tensor offset;         // f32 [1] (double quantization)
  bool double_quant() const { return nested_absmax.defined(); }
};

// w: any float dtype and shape, any device (flattened row-major) -> its NF4 state, on w's device.
Nf4State nf4_quantize(const at::Tensor& w, int64_t blocksize = 64, bool double_quant = true,
                      int64_t nested_blocksize = 256);
// The per-block scales of `s`: fp32 [blocks] (double quantization undone).
at::Tensor nf4_absmax(const Nf4State& s, int64_t nested_blocksize = 256);
// The 4-bit codes of `s`, unpacked: u8 [numel].
at::Tensor nf4_unpack(const at::Tensor& packed, int64_t numel);
// The dequantized values, fp32 [numel].
at::Tensor nf4_dequantize(const Nf4State& s, int64_t numel, int64_t blocksize = 64, int64_t nested_blocksize = 256);

// The double quantization's step alone: x fp32 [n] -> (u8 codes [n], fp32 absmax [ceil(n / blocksize)]).
std::pair<at::Tensor, at::Tensor> bnb_quantize_blockwise(const at::Tensor& x, int64_t blocksize);

}  // namespace lowbit
