#include "framework/model/prefix_forward.h"

#include <ATen/ATen.h>

#include <cmath>
#include <optional>

#include "framework/core/error.h"

namespace lowbit {
namespace {

// This block's keys and values over h [B, T, hidden] (its normed input), after RoPE: [B, KV, T, D] each.
PrefixKV keys_values(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& h, const RopeTables& rope) {
  const int64_t B = h.size(0), T = h.size(1), D = c.head_dim;
  const at::Tensor k = at::linear(h, b.k).view({B, T, c.num_key_value_heads, D}).transpose(1, 2);
  const at::Tensor v = at::linear(h, b.v).view({B, T, c.num_key_value_heads, D}).transpose(1, 2);
  return {apply_rotary(k, rope), v};
}

// The block with optional keys/values in front of its own: past_k/past_v [B, KV, P, D] (undefined:
// none), mask [B, 1, T, P + T] (undefined: plain causal). keep, if given, receives this block's own
// keys/values after RoPE. The op sequence is block_forward's.
at::Tensor block_with_past(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x, const RopeTables& rope,
                           const at::Tensor& past_k, const at::Tensor& past_v, const at::Tensor& mask,
                           PrefixKV* keep) {
  const int64_t B = x.size(0), T = x.size(1), D = c.head_dim;
  const at::Tensor h = rms_norm(x, b.input_norm, c.rms_norm_eps);                                // [B, T, hidden]
  const at::Tensor q =
      apply_rotary(at::linear(h, b.q).view({B, T, c.num_attention_heads, D}).transpose(1, 2), rope);  // [B, H, T, D]
  auto [k, v] = keys_values(b, c, h, rope);                                                           // [B, KV, T, D]
  if (keep) *keep = {k, v};
  if (past_k.defined()) {
    k = at::cat({past_k, k}, 2);  // [B, KV, P + T, D]
    v = at::cat({past_v, v}, 2);
  }
  const std::optional<at::Tensor> attn_mask = mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt;
  const at::Tensor ctx = at::scaled_dot_product_attention(q, k, v, attn_mask, /*dropout_p=*/0.0,
                                                          /*is_causal=*/!mask.defined() && T > 1,
                                                          /*scale=*/1.0 / std::sqrt(double(D)),
                                                          /*enable_gqa=*/c.kv_groups() > 1);
  const at::Tensor attn = ctx.transpose(1, 2).reshape({B, T, c.q_dim()});                       // [B, T, H*D]
  const at::Tensor x1 = x + at::linear(attn, b.o);                                              // [B, T, hidden]
  const at::Tensor h2 = rms_norm(x1, b.post_norm, c.rms_norm_eps);
  const at::Tensor act = at::silu(at::linear(h2, b.gate)) * at::linear(h2, b.up);               // [B, T, inter]
  return x1 + at::linear(act, b.down);
}

}  // namespace

SuffixLayout suffix_layout(const LlamaConfig& c, const at::Tensor& prefix_of_row, const at::Tensor& prefix_len,
                           const at::Tensor& segment, const at::Tensor& position, int64_t P,
                           const at::TensorOptions& options) {
  const int64_t R = segment.size(0), S = segment.size(1);
  LOWBIT_ASSERT(prefix_of_row.size(0) == R && prefix_len.size(0) == R && position.sizes() == segment.sizes() && R > 0 &&
                    P >= 1 && S >= 1,
                "suffix_layout: inconsistent shapes");
  const at::Device dev = options.device();
  // RoPE: each sequence continues right after its own prefix (not after the padded length).
  const at::Tensor pos_host = prefix_len.to(at::kLong).unsqueeze(1) + position.to(at::kLong);  // [R, S] (host)
  const int64_t longest = pos_host.max().item<int64_t>() + 1;
  const at::Tensor pos = pos_host.to(dev), plen = prefix_len.to(dev, at::kLong), seg = segment.to(dev, at::kLong);
  const RopeTables table = rope_tables(c, longest, options.dtype().toScalarType(), dev);  // [longest, D]
  const auto per_token = [&](const at::Tensor& t) {
    return t.index_select(0, pos.reshape(-1)).view({R, 1, S, c.head_dim});
  };
  // Prefix keys beyond the row's prefix length are padding; suffix keys: the same sequence, causal.
  const at::Tensor real = at::arange(P, plen.options()).unsqueeze(0) < plen.unsqueeze(1);       // [R, P]
  const at::Tensor causal = at::ones({S, S}, plen.options().dtype(at::kBool)).tril();          // [S, S]
  const at::Tensor own = seg.unsqueeze(2) == seg.unsqueeze(1);                                 // [R, S, S]
  const at::Tensor mask = at::cat({real.view({R, 1, 1, P}).expand({R, 1, S, P}), (own & causal).unsqueeze(1)},
                                  -1);  // [R, 1, S, P + S]
  return {prefix_of_row.to(dev, at::kLong).contiguous(), {per_token(table.cos), per_token(table.sin)}, mask};
}

at::Tensor block_forward_prefix(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x,
                                const RopeTables& rope, PrefixKV& kv) {
  const int64_t P = x.size(1);
  const RopeTables r{rope.cos.narrow(0, 0, P), rope.sin.narrow(0, 0, P)};
  return block_with_past(b, c, x, r, at::Tensor(), at::Tensor(), at::Tensor(), &kv);
}

PrefixKV block_prefix_kv(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x, const RopeTables& rope) {
  const int64_t P = x.size(1);
  const RopeTables r{rope.cos.narrow(0, 0, P), rope.sin.narrow(0, 0, P)};
  return keys_values(b, c, rms_norm(x, b.input_norm, c.rms_norm_eps), r);
}

at::Tensor block_forward_suffix(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x, const PrefixKV& kv,
                                const SuffixLayout& layout) {
  // Each row's prefix keys/values, gathered from the G prefixes: [R, KV, P, D].
  const at::Tensor past_k = kv.k.index_select(0, layout.prefix_of_row);
  const at::Tensor past_v = kv.v.index_select(0, layout.prefix_of_row);
  return block_with_past(b, c, x, layout.rope, past_k, past_v, layout.mask, nullptr);
}

}  // namespace lowbit
