#include "framework/calibrate/block_context.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "framework/core/error.h"
#include "methods/method.h"

namespace lowbit {

BlockContext::BlockContext(int64_t index, const BlockWeights& weights, const LlamaConfig& config,
                           const at::Tensor& inputs, const RopeTables& rope, int64_t micro_batch,
                           const BlockStatistics& statistics)
    : index_(index), weights_(weights), config_(config), inputs_(inputs), rope_(rope),
      micro_(std::max<int64_t>(1, micro_batch)), stats_(statistics) {}

template <class F>
at::Tensor BlockContext::by_micro_batch(const at::Tensor& in, int64_t out_features, F&& f) const {
  LOWBIT_ASSERT(in.dim() == 3 && in.size(0) == inputs_.size(0) && in.size(1) == inputs_.size(1),
                "block context: inputs must be [N, L, features] over the calibration sequences, got ", in.sizes());
  at::Tensor out = at::empty({in.size(0), in.size(1), out_features}, inputs_.options());  // [N, L, out]
  for (int64_t s = 0; s < in.size(0); s += micro_) {
    const int64_t n = std::min(micro_, in.size(0) - s);
    out.narrow(0, s, n).copy_(f(in.narrow(0, s, n)));
  }
  return out;
}


const at::Tensor& BlockContext::linear_input(LinearInput in) const {
  if (!linear_inputs_[0].defined()) {
    const int64_t N = inputs_.size(0), L = inputs_.size(1);
    for (LinearInput k : {LinearInput::Attention, LinearInput::AttentionOutput, LinearInput::Mlp, LinearInput::MlpDown})
      linear_inputs_[static_cast<int>(k)] = at::empty({N, L, linear_input_size(config_, k)}, inputs_.options());
    for (int64_t s = 0; s < N; s += micro_) {
      const int64_t n = std::min(micro_, N - s);
      block_forward(weights_, config_, inputs_.narrow(0, s, n), rope_, [&](LinearInput k, const at::Tensor& x) {
        linear_inputs_[static_cast<int>(k)].narrow(0, s, n).copy_(x);
      });
    }
  }
  return linear_inputs_[static_cast<int>(in)];
}

void BlockContext::for_each_linear_input(const std::function<void(int64_t, LinearInput, const at::Tensor&)>& f) const {
  const int64_t N = inputs_.size(0);
  for (int64_t s = 0; s < N; s += micro_) {
    const int64_t n = std::min(micro_, N - s);
    if (linear_inputs_[0].defined()) {  // already kept: no second pass
      for (LinearInput k : {LinearInput::Attention, LinearInput::AttentionOutput, LinearInput::Mlp, LinearInput::MlpDown})
        f(s, k, linear_inputs_[static_cast<int>(k)].narrow(0, s, n));
    } else {
      block_forward(weights_, config_, inputs_.narrow(0, s, n), rope_, [&](LinearInput k, const at::Tensor& x) { f(s, k, x); });
    }
  }
}

at::Tensor BlockContext::run_attention(const BlockWeights& w, const at::Tensor& h) const {
  const BlockWeights c = convert_block(w, inputs_.scalar_type(), inputs_.device());
  return by_micro_batch(h, config_.hidden_size,
                        [&](const at::Tensor& x) { return attention_forward(c, config_, x, rope_); });
}

at::Tensor BlockContext::run_mlp(const BlockWeights& w, const at::Tensor& h) const {
  const BlockWeights c = convert_block(w, inputs_.scalar_type(), inputs_.device());
  return by_micro_batch(h, config_.hidden_size, [&](const at::Tensor& x) { return mlp_forward(c, config_, x); });
}

at::Tensor BlockContext::run_block(const BlockWeights& w, const at::Tensor& x) const {
  const BlockWeights c = convert_block(w, inputs_.scalar_type(), inputs_.device());
  return by_micro_batch(x, config_.hidden_size,
                        [&](const at::Tensor& xs) { return block_forward(c, config_, xs, rope_); });
}

}  // namespace lowbit
