// The LLaMA forward pass on libtorch tensors, written to match Hugging Face transformers'
// LlamaForCausalLM op for op: RMSNorm in fp32, RoPE with llama3 frequency scaling, causal GQA
// attention, SwiGLU MLP. Works in the dtype of the weights (fp32 or bf16).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>

#include "framework/model/llama_config.h"
#include "framework/model/llama_weights.h"

namespace lowbit {

// Rotary tables for positions 0..seq_len-1.
struct RopeTables {
  at::Tensor cos;  // [seq, head_dim], in the compute dtype
  at::Tensor sin;  // [seq, head_dim]
};

// Inverse frequencies [head_dim/2] in fp32, llama3 scaling applied when the config asks for it.
at::Tensor rope_inv_freq(const RopeConfig& rope, int64_t head_dim);
// Computed on the host in fp32 (the same tables on every device), then cast and moved to `device`.
RopeTables rope_tables(const LlamaConfig& c, int64_t seq_len, c10::ScalarType dtype, c10::Device device = c10::kCPU);

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);  // x: [..., hidden]


// The four distinct inputs of a block's linears (METHODS.md §1.1): q/k/v share one, gate/up another.
enum class LinearInput { Attention, AttentionOutput, Mlp, MlpDown };
// Called with each linear input as the block computes it ([batch, seq, features]); how the
// calibration loop collects Hessians and activation statistics.
using LinearInputObserver = std::function<void(LinearInput, const at::Tensor&)>;

// A block's keys and values, after RoPE: [batch, kv_heads, seq, head_dim] each.
struct KeysValues {
  at::Tensor k, v;
};
// Keys/values to attend to before the block's own (a shared prefix), and the mask that says which:
// k/v [batch, kv_heads, P, head_dim], mask [batch, 1, seq, P + seq] bool.
struct BlockPast {
  at::Tensor k, v, mask;
};

// One decoder block: x [batch, seq, hidden] -> [batch, seq, hidden], i.e.
//   x1 = x + attention_forward(rms_norm(x)),  out = x1 + mlp_forward(rms_norm(x1)),
// with the block's activation quantization (b.act) applied to every linear's input (and the q/k/v
// outputs when it says so). With `past`, the block attends to past.k/past.v in front of its own
// keys under past.mask (else causally); `keep`, if given, receives the block's own keys and values.
// The observer sees each linear input as the linears read it (after activation quantization).
at::Tensor block_forward(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& x, const RopeTables& rope,
                         const LinearInputObserver& observe = nullptr, const BlockPast* past = nullptr,
                         KeysValues* keep = nullptr);
// The attention half: normed input h [batch, seq, hidden] -> o_proj's output [batch, seq, hidden]
// (before the residual add). What AWQ's scale search measures for the q/k/v junction.
at::Tensor attention_forward(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& h, const RopeTables& rope,
                             const LinearInputObserver& observe = nullptr, const BlockPast* past = nullptr,
                             KeysValues* keep = nullptr);
// The MLP half: normed input h [batch, seq, hidden] -> down_proj's output [batch, seq, hidden].
at::Tensor mlp_forward(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& h,
                       const LinearInputObserver& observe = nullptr);
// Only the keys and values of the block over its normed input h [batch, seq, hidden].
KeysValues block_keys_values(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& h, const RopeTables& rope);

// ids [batch, seq] (int64, on any device) -> hidden [batch, seq, hidden] in the weights' dtype, on
// the embedding's device.
at::Tensor embed(const LlamaWeights& w, const at::Tensor& ids);
// Runs every block `w` holds over hidden [batch, seq, hidden].
at::Tensor blocks_forward(const LlamaWeights& w, at::Tensor hidden);
// hidden [batch, seq, hidden] -> logits [batch, seq, vocab] in fp32.
at::Tensor head(const LlamaWeights& w, const at::Tensor& hidden);
// The whole model (w must hold everything): ids [batch, seq] -> logits [batch, seq, vocab] fp32.
at::Tensor forward(const LlamaWeights& w, const at::Tensor& ids);

}  // namespace lowbit
