// Decoder blocks over shared prefixes and the continuations ("suffixes") that follow them, for
// scoring several continuations of one context: the prefix runs once and every block keeps its keys
// and values (after RoPE); each suffix then attends to its prefix's keys/values and causally to
// itself, at RoPE positions offset by its prefix's length. Per position this is the computation
// block_forward does over prefix + suffix as one sequence (the same ops, other GEMM shapes), so the
// results agree to rounding.
//
// Layout: prefixes are right-padded into [G, P] (causal attention keeps a prefix's padding from
// its real tokens; the suffix mask hides it from the suffixes). Suffixes are packed: one suffix row
// holds the suffixes of one or more sequences that continue the same prefix, one after the other
// ([R, S], right-padded), and the mask lets each token see only its own sequence's earlier tokens —
// so the linears process no padding between the choices of one question.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

#include "framework/model/llama_config.h"
#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"

namespace lowbit {

// One block's keys and values over a batch of prefixes, after RoPE: [G, kv_heads, P, head_dim] each.
using PrefixKV = KeysValues;

// Where the tokens of a suffix batch attend; computed once per batch, shared by every block.
struct SuffixLayout {
  at::Tensor prefix_of_row;  // [R] int64 on the device: the prefix (row of PrefixKV) each suffix row continues
  RopeTables rope;           // cos, sin [R, 1, S, head_dim]: positions prefix_len + position
  at::Tensor mask;           // [R, 1, S, P + S] bool: the row's real prefix positions, then its own sequence, causal
};

// On the host, per suffix row: prefix_of_row [R], prefix_len [R] (>= 1), and per token
// segment [R, S] (which sequence of the row it belongs to; -1: padding) and position [R, S] (its
// offset in that sequence). P: the padded prefix length. `options`: compute dtype and device.
SuffixLayout suffix_layout(const LlamaConfig& c, const at::Tensor& prefix_of_row, const at::Tensor& prefix_len,
                           const at::Tensor& segment, const at::Tensor& position, int64_t P,
                           const at::TensorOptions& options);

// x [G, P, hidden] -> [G, P, hidden], RoPE positions 0..P-1 (rope: [>= P, head_dim] tables).
// Stores the block's keys and values in `kv`.
at::Tensor block_forward_prefix(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x,
                                const RopeTables& rope, PrefixKV& kv);

// Only the keys and values block_forward_prefix would store, for a block whose outputs over the
// prefix nobody reads (the pipeline's last block: scoring reads the suffixes only).
PrefixKV block_prefix_kv(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x, const RopeTables& rope);

// x [R, S, hidden] -> [R, S, hidden]: suffix rows after their prefixes in `kv` (this block's).
at::Tensor block_forward_suffix(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x, const PrefixKV& kv,
                                const SuffixLayout& layout);

}  // namespace lowbit
