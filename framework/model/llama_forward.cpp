#include "framework/model/llama_forward.h"

#include <ATen/ATen.h>

#include <c10/core/InferenceMode.h>

#include <cmath>
#include <optional>

#include "framework/core/error.h"
#include "framework/model/activation_quant.h"
#include "framework/model/lora_adapter.h"

namespace lowbit {

at::Tensor rope_inv_freq(const RopeConfig& rope, int64_t head_dim) {
  // Same float32 op sequence as transformers' _compute_default_rope_parameters.
  const at::Tensor exponents = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  at::Tensor inv_freq = at::reciprocal(at::pow(rope.theta, exponents));  // [head_dim/2]
  if (rope.type != "llama3") return inv_freq;

  // transformers' _compute_llama3_parameters: long wavelengths are divided by `factor`, short ones
  // kept, and the band between is interpolated smoothly.
  const double old_ctx = static_cast<double>(rope.original_max_position_embeddings);
  const double low_freq_wavelen = old_ctx / rope.low_freq_factor;
  const double high_freq_wavelen = old_ctx / rope.high_freq_factor;
  const at::Tensor wavelen = at::reciprocal(inv_freq) * (2 * M_PI);
  at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / rope.factor, inv_freq);
  const at::Tensor smooth = (at::reciprocal(wavelen) * old_ctx - rope.low_freq_factor) /
                            (rope.high_freq_factor - rope.low_freq_factor);
  const at::Tensor smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
  const at::Tensor medium = at::logical_not(wavelen < high_freq_wavelen) * at::logical_not(wavelen > low_freq_wavelen);
  return at::where(medium, smoothed, scaled);
}

RopeTables rope_tables(const LlamaConfig& c, int64_t seq_len, c10::ScalarType dtype, c10::Device device) {
  const at::Tensor inv_freq = rope_inv_freq(c.rope, c.head_dim);               // [D/2]
  const at::Tensor pos = at::arange(seq_len, at::kLong).to(at::kFloat);        // [T]
  const at::Tensor freqs = at::outer(pos, inv_freq);                           // [T, D/2]
  const at::Tensor emb = at::cat({freqs, freqs}, -1);                          // [T, D]
  return {emb.cos().to(device, dtype), emb.sin().to(device, dtype)};
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor var = xf.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (xf * at::rsqrt(var + eps)).to(x.scalar_type());
}

namespace {

at::Tensor rotate_half(const at::Tensor& x) {  // [..., D]
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// x [B, heads, T, D]; cos/sin [T, D] (every row at the same positions) or [B, 1, T, D] (positions
// per row, after a shared prefix).
at::Tensor apply_rope(const at::Tensor& x, const RopeTables& rope) {
  return x * rope.cos + rotate_half(x) * rope.sin;
}

}  // namespace

namespace {

// A linear of the block over x [..., in] -> [..., out], plus its LoRA adapter when it has one.
at::Tensor project(const BlockWeights& b, BlockTensor linear, const at::Tensor& x) {
  const at::Tensor y = at::linear(x, block_field(b, linear));
  return b.adapters ? add_adapter(*b.adapters, linear, x, y) : y;
}

// k and v over the block's attention input hq [B, T, hidden] as the linears see it (activations
// already quantized when the block's spec says so): [B, KV, T, D] each, k after RoPE.
KeysValues keys_values_of(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& hq, const RopeTables& rope) {
  const int64_t B = hq.size(0), T = hq.size(1), D = c.head_dim;
  const bool out_q = b.act.quantize_qkv_outputs;
  const at::Tensor k = project(b, BlockTensor::K, hq), v = project(b, BlockTensor::V, hq);  // [B, T, KV*D]
  const at::Tensor kq = out_q ? fake_quantize_activations(k, b.act) : k;
  const at::Tensor vq = out_q ? fake_quantize_activations(v, b.act) : v;
  return {apply_rope(kq.view({B, T, c.num_key_value_heads, D}).transpose(1, 2), rope),
          vq.view({B, T, c.num_key_value_heads, D}).transpose(1, 2)};
}

}  // namespace

KeysValues block_keys_values(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& h, const RopeTables& rope) {
  return keys_values_of(b, c, fake_quantize_activations(h, b.act), rope);
}

at::Tensor attention_forward(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& h, const RopeTables& rope,
                             const LinearInputObserver& observe, const BlockPast* past, KeysValues* keep) {
  const int64_t B = h.size(0), T = h.size(1), D = c.head_dim;
  const at::Tensor hq = fake_quantize_activations(h, b.act);  // what q/k/v read: [B, T, hidden]
  if (observe) observe(LinearInput::Attention, hq);
  at::Tensor q = project(b, BlockTensor::Q, hq);  // [B, T, H*D]
  if (b.act.quantize_qkv_outputs) q = fake_quantize_activations(q, b.act);
  q = apply_rope(q.view({B, T, c.num_attention_heads, D}).transpose(1, 2), rope);  // [B, H, T, D]
  auto [k, v] = keys_values_of(b, c, hq, rope);                                     // [B, KV, T, D]
  if (keep) *keep = {k, v};
  std::optional<at::Tensor> mask;
  if (past) {  // the shared prefix's keys/values in front: [B, KV, P + T, D]
    k = at::cat({past->k, k}, 2);
    v = at::cat({past->v, v}, 2);
    mask = past->mask;
  }
  // GQA without copying KV heads: query head i reads KV head i / kv_groups (as transformers'
  // SDPA path does).
  const at::Tensor ctx = at::scaled_dot_product_attention(q, k, v, mask, /*dropout_p=*/0.0,
                                                          /*is_causal=*/!mask && T > 1,
                                                          /*scale=*/1.0 / std::sqrt(double(D)),
                                                          /*enable_gqa=*/c.kv_groups() > 1);
  const at::Tensor attn = fake_quantize_activations(ctx.transpose(1, 2).reshape({B, T, c.q_dim()}), b.act);  // [B, T, H*D]
  if (observe) observe(LinearInput::AttentionOutput, attn);
  return project(b, BlockTensor::O, attn);  // [B, T, hidden]
}

at::Tensor mlp_forward(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& h,
                       const LinearInputObserver& observe) {
  const at::Tensor hq = fake_quantize_activations(h, b.act);  // [B, T, hidden]
  if (observe) observe(LinearInput::Mlp, hq);
  const at::Tensor act =
      fake_quantize_activations(at::silu(project(b, BlockTensor::Gate, hq)) * project(b, BlockTensor::Up, hq), b.act);  // [B, T, inter]
  if (observe) observe(LinearInput::MlpDown, act);
  return project(b, BlockTensor::Down, act);  // [B, T, hidden]
}

at::Tensor block_forward(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x, const RopeTables& rope,
                         const LinearInputObserver& observe, const BlockPast* past, KeysValues* keep) {
  const at::Tensor x1 = x + attention_forward(b, c, rms_norm(x, b.input_norm, c.rms_norm_eps), rope, observe, past,
                                              keep);                                     // [B, T, hidden]
  return x1 + mlp_forward(b, c, rms_norm(x1, b.post_norm, c.rms_norm_eps), observe);
}

at::Tensor embed(const LlamaWeights& w, const at::Tensor& ids) {
  LOWBIT_CHECK(w.embedding.defined(), "embed(): these weights hold no embedding");
  LOWBIT_CHECK(ids.dim() == 2, "token ids must be [batch, seq], got ", ids.dim(), " dimensions");
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    LOWBIT_CHECK(lo >= 0 && hi < w.config.vocab_size, "token id ", lo < 0 ? lo : hi,
                 " is outside the vocabulary [0, ", w.config.vocab_size, ")");
  }
  return at::embedding(w.embedding, ids.to(w.embedding.device(), at::kLong));
}

at::Tensor blocks_forward(const LlamaWeights& w, at::Tensor hidden) {
  if (w.blocks.empty()) return hidden;
  const RopeTables rope = rope_tables(w.config, hidden.size(1), hidden.scalar_type(), hidden.device());
  for (const BlockWeights& b : w.blocks) hidden = block_forward(b, w.config, hidden, rope);
  return hidden;
}

at::Tensor head(const LlamaWeights& w, const at::Tensor& hidden) {
  LOWBIT_CHECK(w.lm_head.defined() && w.final_norm.defined(), "head(): these weights hold no lm_head");
  return at::linear(rms_norm(hidden, w.final_norm, w.config.rms_norm_eps), w.lm_head).to(at::kFloat);
}

at::Tensor forward(const LlamaWeights& w, const at::Tensor& ids) {
  LOWBIT_CHECK(w.first_block == 0 && static_cast<int64_t>(w.blocks.size()) == w.config.num_hidden_layers,
               "forward(): these weights hold blocks [", w.first_block, ", ", w.first_block + w.blocks.size(),
               ") of ", w.config.num_hidden_layers, "; the whole model is needed");
  c10::InferenceMode inference;
  return head(w, blocks_forward(w, embed(w, ids)));
}

}  // namespace lowbit
