// Log-likelihood scoring over the layer-wise pipeline, the one engine behind perplexity, the
// multiple-choice tasks and MMLU. Rank 0 embeds micro-batches of token sequences and streams the
// hidden states through every rank's blocks; the last rank turns them into log-probabilities of
// the requested tokens; rank 0 ends with every result. Each rank holds only its own blocks (rank 0
// the embedding, the last rank the final norm and lm_head), so models larger than one device run.
//
// Requests are batched identically whatever the world size (sorted by length, longest first, cut
// into micro-batches, right-padded — causal attention keeps padding from reaching real tokens), so
// 1, 2 or 3 ranks give the same numbers.
//
// Shared contexts: requests whose ids[0 : score_from - 1] are equal (the choices of one
// multiple-choice question) are scored as a group: that prefix runs once through every rank's
// blocks, each rank keeping its blocks' keys/values, then each request's suffix (its last context
// token + its continuation) runs attending to them (framework/model/prefix_forward). The head runs
// only on scored positions. Device-generic: each rank computes on the device of its weights; token
// ids and request metadata stay on the host, log-probabilities come back once per micro-batch.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "framework/model/llama_weights.h"

namespace lowbit {

class Communicator;

struct ScoreRequest {
  std::vector<int32_t> ids;  // the sequence (context + continuation), at least 2 tokens unless candidates
  int64_t score_from = 1;    // ids[score_from..] are scored, each from the position before it
  // MMLU style: if not empty, the log-probabilities of these tokens after the last id, instead.
  std::vector<int32_t> candidates;
};

struct ScoreResult {
  double logprob = 0;  // Σ log p(ids[t] | ids[<t]) over the scored tokens
  std::vector<double> candidate_logprobs;
};

struct ScoreOptions {
  int64_t micro_batch = 4;  // sequences per forward; with shared contexts, contexts (groups) per forward
  // Group requests that share a context and run the context once (see above); off: every request is
  // its own sequence.
  bool share_prefixes = true;
  // Shared contexts: a group's continuations are packed one after another into suffix rows of up to
  // this many tokens (or one continuation, if longer); a large group gets several rows.
  int64_t suffix_row_tokens = 512;
  // Called on rank 0 after each micro-batch with (requests done, total).
  std::function<void(int64_t, int64_t)> progress;
};

// Collective: every rank calls it with its part of the model (`w`); `requests` are read on rank 0
// only. Returns the results on rank 0 (empty elsewhere), in request order.
std::vector<ScoreResult> score_requests(const LlamaWeights& w, Communicator& comm,
                                        const std::vector<ScoreRequest>& requests, const ScoreOptions& options);

}  // namespace lowbit
