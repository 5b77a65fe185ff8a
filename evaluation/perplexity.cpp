#include "evaluation/perplexity.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>

#include "framework/core/error.h"
#include "framework/model/llama_forward.h"

namespace lowbit {

PerplexityResult perplexity(const LlamaWeights& w, const std::vector<int32_t>& tokens, int64_t seq_len, int64_t batch,
                            int64_t max_windows) {
  LOWBIT_CHECK(seq_len >= 2, "perplexity needs windows of at least 2 tokens, got ", seq_len);
  int64_t n = static_cast<int64_t>(tokens.size()) / seq_len;
  LOWBIT_CHECK(n >= 1, "text of ", tokens.size(), " tokens is shorter than one window of ", seq_len);
  if (max_windows > 0) n = std::min(n, max_windows);
  c10::InferenceMode guard;
  double total = 0;
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t b = std::min(batch, n - first);
    at::Tensor ids = at::empty({b, seq_len}, at::kLong);  // [b, seq]
    int64_t* p = ids.data_ptr<int64_t>();
    for (int64_t i = 0; i < b * seq_len; ++i) p[i] = tokens[first * seq_len + i];
    const at::Tensor logits = forward(w, ids);  // [b, seq, vocab] fp32
    const at::Tensor pred = logits.narrow(1, 0, seq_len - 1).reshape({-1, logits.size(-1)});
    const at::Tensor target = ids.narrow(1, 1, seq_len - 1).reshape({-1});
    total += at::cross_entropy_loss(pred, target, {}, at::Reduction::Sum).item<double>();
  }
  PerplexityResult r;
  r.windows = n;
  r.predicted = n * (seq_len - 1);
  r.nll = total / static_cast<double>(r.predicted);
  r.perplexity = std::exp(r.nll);
  return r;
}

}  // namespace lowbit
