#include "framework/model/prefix_forward.h"

#include <ATen/ATen.h>


#include "framework/core/error.h"

namespace lowbit {

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
  return block_forward(b, c, x, r, nullptr, nullptr, &kv);
}

PrefixKV block_prefix_kv(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x, const RopeTables& rope) {
  const int64_t P = x.size(1);
  const RopeTables r{rope.cos.narrow(0, 0, P), rope.sin.narrow(0, 0, P)};
  return block_keys_values(b, c, rms_norm(x, b.input_norm, c.rms_norm_eps), r);
}

at::Tensor block_forward_suffix(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x, const PrefixKV& kv,
                                const SuffixLayout& layout) {
  // Each row's prefix keys/values, gathered from the G prefixes: [R, KV, P, D].
  const BlockPast past{kv.k.index_select(0, layout.prefix_of_row), kv.v.index_select(0, layout.prefix_of_row),
                       layout.mask};
  return block_forward(b, c, x, layout.rope, nullptr, &past);
}

}  // namespace lowbit
