// SmoothQuant (METHODS.md §7; mit-han-lab/smoothquant `smooth_ln_fcs_llama_like`, `fake_quant.py`):
// per block, from the full-precision model's per-channel abs-max of the q_proj and gate_proj inputs,
//   s_j = clamp(a_max_j^alpha / w_max_j^(1 - alpha), 1e-5),  w_max_j = clamp(max over the group's
//   linears and rows of |W[:, j]|, 1e-5),
// at the two junctions input_layernorm -> q/k/v and post_attention_layernorm -> gate/up: the norm's
// weight divided by s, the linears' columns multiplied by s (o_proj and down_proj are not smoothed).
// Then every linear per output channel, symmetric absmax, round to nearest at `bits`, and the runtime
// spec: every linear input fake-quantized per token (symmetric absmax) at `act_bits`, and the q/k/v
// outputs too with quantize_bmm_input (as the reference's ppl_eval.py does).
#pragma once

#include <ATen/core/Tensor.h>

#include "methods/method.h"

namespace lowbit {

struct SmoothQuantOptions {
  int bits = 8;               // weights
  int act_bits = 8;           // activations (16 = off); the config's `a_bits`
  double alpha = 0.85;        // the reference's LLaMA-3 scripts (its code defaults to 0.5)
  bool quantize_bmm_input = true;
  bool smooth = true;         // false: plain W/A quantization without smoothing (ablation)
};

// The smoothing factors of one junction: act_max [in] fp32, weights the group's [out_i, in] -> s [in].
at::Tensor smoothing_factors(const at::Tensor& act_max, const std::vector<at::Tensor>& weights, double alpha);

}  // namespace lowbit
