#include "evaluation/pipeline_scorer.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>

#include "framework/core/error.h"
#include "framework/dist/communicator.h"
#include "framework/model/llama_forward.h"

namespace lowbit {
namespace {

// What the last rank needs to score one micro-batch: per sequence its length, where scoring
// starts, the candidates (-1 padded) and the ids (0 padded). One int64 row per sequence:
// [len, score_from, n_candidates, candidates (C), ids (L)].
at::Tensor batch_meta(const std::vector<ScoreRequest>& requests, const std::vector<int64_t>& members, int64_t max_len,
                      int64_t max_candidates) {
  at::Tensor meta = at::full({static_cast<int64_t>(members.size()), 3 + max_candidates + max_len}, -1, at::kLong);
  for (std::size_t i = 0; i < members.size(); ++i) {
    const ScoreRequest& r = requests[members[i]];
    int64_t* row = meta[static_cast<int64_t>(i)].data_ptr<int64_t>();
    row[0] = static_cast<int64_t>(r.ids.size());
    row[1] = r.score_from;
    row[2] = static_cast<int64_t>(r.candidates.size());
    for (std::size_t c = 0; c < r.candidates.size(); ++c) row[3 + c] = r.candidates[c];
    for (int64_t t = 0; t < max_len; ++t) row[3 + max_candidates + t] = t < static_cast<int64_t>(r.ids.size()) ? r.ids[t] : 0;
  }
  return meta;
}

// Scores one micro-batch from the last block's outputs hidden [b, L, hidden]. Returns one row per
// sequence: [logprob, candidate logprobs (C, NaN padded)]. The head runs on groups of rows at once
// (a larger GEMM), each group's logits kept under ~1 GiB; sums go through cross_entropy, which
// measured several times faster than log_softmax + gather on this CPU.
at::Tensor score_batch(const LlamaWeights& w, const at::Tensor& hidden, const at::Tensor& meta, int64_t max_candidates) {
  const int64_t b = meta.size(0), L = hidden.size(1), vocab = w.config.vocab_size;
  at::Tensor out = at::full({b, 1 + max_candidates}, std::numeric_limits<double>::quiet_NaN(), at::kDouble);
  const int64_t group = std::max<int64_t>(1, (int64_t{1} << 28) / std::max<int64_t>(1, L * vocab));
  for (int64_t g0 = 0; g0 < b; g0 += group) {
    const int64_t gn = std::min(group, b - g0);
    bool any_plain = false;  // MMLU-style rows need only their last position: no full-length head for them
    for (int64_t i = g0; i < g0 + gn; ++i) any_plain = any_plain || meta[i].data_ptr<int64_t>()[2] == 0;
    const at::Tensor logits = any_plain ? head(w, hidden.narrow(0, g0, gn)) : at::Tensor();  // [gn, L, vocab] fp32
    for (int64_t i = g0; i < g0 + gn; ++i) {
      const int64_t* row = meta[i].data_ptr<int64_t>();
      const int64_t len = row[0], from = row[1], n_cand = row[2];
      const int64_t* ids = row + 3 + max_candidates;
      double* res = out[i].data_ptr<double>();
      if (n_cand > 0) {  // the distribution after the last token
        const at::Tensor lp = at::log_softmax(head(w, hidden[i].narrow(0, len - 1, 1).unsqueeze(0))[0][0], -1);
        const float* p = lp.data_ptr<float>();
        res[0] = 0;
        for (int64_t c = 0; c < n_cand; ++c) res[1 + c] = p[row[3 + c]];
        continue;
      }
      // Positions from-1 .. len-2 predict tokens from .. len-1.
      const int64_t n = len - from;
      const at::Tensor target = at::from_blob(const_cast<int64_t*>(ids + from), {n}, at::kLong);
      const at::Tensor li = logits[i - g0];  // [L, vocab]
      res[0] = -at::cross_entropy_loss(li.narrow(0, from - 1, n), target, {}, at::Reduction::Sum).item<double>();
    }
  }
  return out;
}

}  // namespace

std::vector<ScoreResult> score_requests(const LlamaWeights& w, Communicator& comm,
                                        const std::vector<ScoreRequest>& requests, const ScoreOptions& opt) {
  c10::InferenceMode guard;
  const int rank = comm.rank(), size = comm.size(), last = size - 1;
  LOWBIT_CHECK(opt.micro_batch >= 1, "evaluation micro_batch must be >= 1");

  // Rank 0 plans the micro-batches; the other ranks learn their count and the candidate width.
  std::vector<std::vector<int64_t>> batches;
  int64_t max_candidates = 0;
  if (rank == 0) {
    for (const ScoreRequest& r : requests) {
      const int64_t len = static_cast<int64_t>(r.ids.size());
      if (r.candidates.empty()) {
        LOWBIT_CHECK(r.score_from >= 1 && r.score_from < len, "score request of ", len, " tokens scoring from ",
                     r.score_from, ": nothing to score");
      } else {
        LOWBIT_CHECK(len >= 1, "score request with candidates needs at least one token");
      }
      for (int32_t c : r.candidates)  // (the ids themselves are checked by embed())
        LOWBIT_CHECK(c >= 0 && c < w.config.vocab_size, "candidate token id ", c, " outside the vocabulary");
      max_candidates = std::max<int64_t>(max_candidates, static_cast<int64_t>(r.candidates.size()));
    }
    std::vector<int64_t> order(requests.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return requests[a].ids.size() > requests[b].ids.size(); });
    for (std::size_t s = 0; s < order.size(); s += static_cast<std::size_t>(opt.micro_batch))
      batches.emplace_back(order.begin() + s, order.begin() + std::min(order.size(), s + opt.micro_batch));
  }
  const std::string header = comm.broadcast(std::to_string(batches.size()) + " " + std::to_string(max_candidates) + " " +
                                                std::to_string(requests.size()), 0);
  const int64_t n_batches = std::stoll(header);
  max_candidates = std::stoll(header.substr(header.find(' ') + 1));
  const int64_t n_requests = std::stoll(header.substr(header.rfind(' ') + 1));

  RopeTables rope;  // for the longest batch so far; shorter batches use a prefix
  int64_t rope_len = 0;
  at::Tensor results;  // last rank: [requests, 1 + C]
  if (rank == last) results = at::zeros({n_requests, 1 + max_candidates}, at::kDouble);
  int64_t done = 0;
  for (int64_t k = 0; k < n_batches; ++k) {
    at::Tensor hidden, meta, index;  // index [b]: request of each row (last rank)
    if (rank == 0) {
      const std::vector<int64_t>& members = batches[k];
      int64_t max_len = 0;
      for (int64_t m : members) max_len = std::max<int64_t>(max_len, static_cast<int64_t>(requests[m].ids.size()));
      meta = batch_meta(requests, members, max_len, max_candidates);
      hidden = embed(w, meta.narrow(1, 3 + max_candidates, max_len).contiguous());  // [b, L, hidden]
      index = at::from_blob(const_cast<int64_t*>(members.data()), {static_cast<int64_t>(members.size())}, at::kLong).clone();
      if (last != 0) {
        comm.send(meta, last);
        comm.send(index, last);
      }
    } else {
      if (rank == last) {  // before the hidden states: with 2 ranks all three come from rank 0, in this order
        meta = comm.recv(0);
        index = comm.recv(0);
      }
      hidden = comm.recv(rank - 1);
    }
    if (hidden.size(1) > rope_len) {
      rope_len = hidden.size(1);
      rope = rope_tables(w.config, rope_len, hidden.scalar_type());
    }
    const RopeTables r{rope.cos.narrow(0, 0, hidden.size(1)), rope.sin.narrow(0, 0, hidden.size(1))};
    for (const BlockWeights& b : w.blocks) hidden = block_forward(b, w.config, hidden, r);
    if (rank != last) {
      comm.send(hidden, rank + 1);
    } else {
      const at::Tensor scored = score_batch(w, hidden, meta, max_candidates);
      results.index_copy_(0, index, scored);
    }
    done += hidden.size(0);
    if (rank == 0 && opt.progress) opt.progress(done, n_requests);
  }
  if (last != 0) {
    if (rank == last) comm.send(results, 0);
    if (rank == 0) results = comm.recv(last);
  }
  std::vector<ScoreResult> out;
  if (rank != 0) return out;
  out.resize(static_cast<std::size_t>(n_requests));
  for (int64_t i = 0; i < n_requests; ++i) {
    const double* row = results[i].data_ptr<double>();
    out[i].logprob = row[0];
    for (std::size_t c = 0; c < requests[i].candidates.size(); ++c) out[i].candidate_logprobs.push_back(row[1 + c]);
  }
  return out;
}

}  // namespace lowbit
