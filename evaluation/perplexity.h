// Perplexity with the study's protocol (METHODS.md §3.1): the token stream is cut into
// nsamples = tokens / seq_len non-overlapping windows (tail dropped), each window is scored on its
// own (positions 0..seq_len-2 predict 1..seq_len-1, no carried context), PPL = exp(mean NLL).
// Single-process for now; the pipeline-parallel evaluator of the evaluation issue builds on it.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/model/llama_weights.h"

namespace lowbit {

struct PerplexityResult {
  double nll = 0;          // mean negative log-likelihood per predicted token (nats)
  double perplexity = 0;   // exp(nll)
  int64_t windows = 0;
  int64_t predicted = 0;   // tokens scored
};

PerplexityResult perplexity(const LlamaWeights& w, const std::vector<int32_t>& tokens, int64_t seq_len,
                            int64_t batch = 8, int64_t max_windows = 0 /* 0: all */);

}  // namespace lowbit
