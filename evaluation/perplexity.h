// Perplexity with the study's protocol (METHODS.md §3.1): the token stream is cut into
// nsamples = tokens / seq_len non-overlapping windows (tail dropped), each window is scored on its
// own (positions 0..seq_len-2 predict 1..seq_len-1, no carried context), PPL = exp(mean NLL).
// The windows are scored by the pipeline scorer; `perplexity()` runs it in this process alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "evaluation/pipeline_scorer.h"
#include "framework/model/llama_weights.h"

namespace lowbit {

struct PerplexityResult {
  double nll = 0;          // mean negative log-likelihood per predicted token (nats)
  double perplexity = 0;   // exp(nll)
  int64_t windows = 0;
  int64_t predicted = 0;   // tokens scored
};

// One request scoring every position of ids[0, seq_len).
ScoreRequest window_request(const int32_t* ids, int64_t seq_len);

// The non-overlapping windows of `tokens` (at most `max_windows`, 0: all); `origin` names the text
// in the error when it is shorter than one window.
std::vector<ScoreRequest> perplexity_windows(const std::vector<int32_t>& tokens, int64_t seq_len,
                                             int64_t max_windows, const std::string& origin);

// PPL from the scores of windows of `seq_len` tokens.
PerplexityResult perplexity_from_scores(const std::vector<ScoreResult>& scores, int64_t seq_len);

// In this process: `w` must hold the whole model.
PerplexityResult perplexity(const LlamaWeights& w, const std::vector<int32_t>& tokens, int64_t seq_len,
                            int64_t batch = 8, int64_t max_windows = 0 /* 0: all */);

}  // namespace lowbit
