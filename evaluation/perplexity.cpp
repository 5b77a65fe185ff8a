#include "evaluation/perplexity.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "framework/dist/communicator.h"

namespace lowbit {

ScoreRequest window_request(const int32_t* ids, int64_t seq_len) {
  ScoreRequest r;
  r.ids.assign(ids, ids + seq_len);
  r.score_from = 1;
  return r;
}

std::vector<ScoreRequest> perplexity_windows(const std::vector<int32_t>& tokens, int64_t seq_len, int64_t max_windows,
                                             const std::string& origin) {
  LOWBIT_CHECK(seq_len >= 2, "perplexity needs windows of at least 2 tokens, got ", seq_len);
  int64_t n = static_cast<int64_t>(tokens.size()) / seq_len;
  LOWBIT_CHECK(n >= 1, origin, ": ", tokens.size(), " tokens is shorter than one window of ", seq_len,
               " (lower --seq-len)");
  if (max_windows > 0) n = std::min(n, max_windows);
  std::vector<ScoreRequest> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(window_request(tokens.data() + i * seq_len, seq_len));
  return out;
}

PerplexityResult perplexity_from_scores(const std::vector<ScoreResult>& scores, int64_t seq_len) {
  PerplexityResult r;
  double nll = 0;
  for (const ScoreResult& s : scores) nll -= s.logprob;
  r.windows = static_cast<int64_t>(scores.size());
  r.predicted = r.windows * (seq_len - 1);
  r.nll = nll / static_cast<double>(r.predicted);
  r.perplexity = std::exp(r.nll);
  return r;
}

PerplexityResult perplexity(const LlamaWeights& w, const std::vector<int32_t>& tokens, int64_t seq_len, int64_t batch,
                            int64_t max_windows) {
  ScoreOptions o;
  o.micro_batch = batch;
  return perplexity_from_scores(
      score_requests(w, single_rank(), perplexity_windows(tokens, seq_len, max_windows, "text"), o), seq_len);
}

}  // namespace lowbit
