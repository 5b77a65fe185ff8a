// The runtime forward spec of a quantized block: fake quantization of activations, applied inside
// the block's forward wherever it runs (calibration of the next block, quantized propagation,
// evaluation). SmoothQuant's W8A8/W6A6/W4A4 (METHODS.md §7): every linear's input quantized per
// token, dynamically (the grid of each token from its own values), and optionally the q/k/v
// projections' outputs (the inputs of the two attention matmuls, the reference's
// `quantize_bmm_input`). Per-token quantization never mixes tokens, so a prefix/suffix split of a
// sequence quantizes exactly as the whole sequence does.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace lowbit {

struct ActivationQuant {
  int bits = 16;                          // 16: activations are not quantized
  std::string granularity = "per_token";  // the only one: a grid per token (row of the last dimension)
  bool symmetric = true;                  // absmax, zero at 0 (SmoothQuant); false: min-max with a zero point
  bool quantize_qkv_outputs = false;      // also the q/k/v projections' outputs (before RoPE)
  bool enabled() const { return bits < 16; }
  bool operator==(const ActivationQuant& o) const {
    return bits == o.bits && granularity == o.granularity && symmetric == o.symmetric &&
           quantize_qkv_outputs == o.quantize_qkv_outputs;
  }
  std::string describe() const;  // "a8 per_token sym, q/k/v outputs too", or "none"
};

// Refuses a spec evaluation could not apply, naming `where`.
void check_activation_quant(const ActivationQuant& spec, const std::string& where);

// x [..., features] fake-quantized token by token, in x's dtype (as the reference computes):
// symmetric: s = max(|x|).clamp(1e-5) / (2^(bits-1) - 1), x -> round(x / s) * s;
// asymmetric: s = clamp((max - min) / (2^bits - 1), 1e-5, 1e4), z = round(clamp(-min / s, +-1e4)),
// x -> (clamp(round(x / s) + z, 0, 2^bits - 1) - z) * s. Returns x itself when the spec is off.
at::Tensor fake_quantize_activations(const at::Tensor& x, const ActivationQuant& spec);

}  // namespace lowbit
