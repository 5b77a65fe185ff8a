#include "evaluation/pipeline_scorer.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <limits>
#include <map>
#include <string>

#include "framework/core/error.h"
#include "framework/dist/communicator.h"
#include "framework/model/llama_forward.h"
#include "framework/model/prefix_forward.h"

namespace lowbit {
namespace {

// ---- The plan (rank 0) ----------------------------------------------------------------------------

// A shared micro-batch's suffix row: sequences (requests' suffixes) that continue the same prefix,
// packed one after another.
struct SuffixRow {
  int64_t group = 0;             // the prefix it continues (0..G-1 within the micro-batch)
  std::vector<int64_t> members;  // requests
  int64_t len = 0;               // tokens
};

// One micro-batch. Plain: each request is one row, its whole sequence. Shared: groups of requests
// whose ids[0 : score_from - 1] are equal; each group's prefix is one row of the prefix pass, its
// members' suffixes (last context token + continuation) are packed into suffix rows.
struct MicroBatch {
  std::vector<int64_t> plain;          // plain: the requests, one per row
  std::vector<int64_t> prefix_len;     // shared: per group, the length of its prefix
  std::vector<SuffixRow> suffix_rows;  // shared
  bool shared() const { return !prefix_len.empty(); }
};

// Validates the requests; returns the widest candidate list.
int64_t check_requests(const LlamaWeights& w, const std::vector<ScoreRequest>& requests) {
  int64_t max_candidates = 0;
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
  return max_candidates;
}

// Groups of >= 2 requests with the same prefix ids[0 : score_from - 1] (in order of first
// appearance, members in request order); every other request is alone. Candidate (MMLU-style)
// requests and those without a prefix (score_from 1: perplexity windows) are always alone.
void group_by_prefix(const std::vector<ScoreRequest>& requests, bool share, std::vector<std::vector<int64_t>>& groups,
                     std::vector<int64_t>& alone) {
  std::map<std::vector<int32_t>, std::size_t> by_prefix;
  std::vector<std::vector<int64_t>> all;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const ScoreRequest& r = requests[i];
    if (!share || !r.candidates.empty() || r.score_from < 2) {
      all.push_back({static_cast<int64_t>(i)});
      continue;
    }
    std::vector<int32_t> prefix(r.ids.begin(), r.ids.begin() + (r.score_from - 1));
    const auto [it, inserted] = by_prefix.emplace(std::move(prefix), all.size());
    if (inserted) all.emplace_back();
    all[it->second].push_back(static_cast<int64_t>(i));
  }
  for (std::vector<int64_t>& g : all) {
    if (g.size() >= 2) {
      groups.push_back(std::move(g));
    } else {
      alone.push_back(g[0]);
    }
  }
  std::sort(alone.begin(), alone.end());  // request order: the plain batching of a run without groups
}

int64_t suffix_len(const ScoreRequest& r) { return static_cast<int64_t>(r.ids.size()) - (r.score_from - 1); }

// Shared micro-batches first (micro_batch groups each, longest prefixes first; a row grows with a
// group's suffixes while they fit suffix_row_tokens, so a large group gets several rows rather than
// one whose attention mask grows quadratically), then plain ones (micro_batch requests each, longest
// first). Depends only on the requests, never on the world size.
std::vector<MicroBatch> plan_batches(const std::vector<ScoreRequest>& requests, const ScoreOptions& opt) {
  std::vector<std::vector<int64_t>> groups;
  std::vector<int64_t> alone;
  group_by_prefix(requests, opt.share_prefixes, groups, alone);
  const auto prefix_len = [&](const std::vector<int64_t>& g) { return requests[g[0]].score_from - 1; };
  std::stable_sort(groups.begin(), groups.end(),
                   [&](const auto& a, const auto& b) { return prefix_len(a) > prefix_len(b); });
  const std::size_t step = static_cast<std::size_t>(opt.micro_batch);
  std::vector<MicroBatch> batches;
  for (std::size_t s = 0; s < groups.size(); s += step) {
    MicroBatch mb;
    for (std::size_t j = s; j < std::min(groups.size(), s + step); ++j) {
      const int64_t g = static_cast<int64_t>(mb.prefix_len.size());
      mb.prefix_len.push_back(prefix_len(groups[j]));
      mb.suffix_rows.push_back({g, {}, 0});
      for (int64_t m : groups[j]) {
        const int64_t n = suffix_len(requests[m]);
        if (!mb.suffix_rows.back().members.empty() && mb.suffix_rows.back().len + n > opt.suffix_row_tokens)
          mb.suffix_rows.push_back({g, {}, 0});
        mb.suffix_rows.back().members.push_back(m);
        mb.suffix_rows.back().len += n;
      }
    }
    batches.push_back(std::move(mb));
  }
  std::stable_sort(alone.begin(), alone.end(),
                   [&](int64_t a, int64_t b) { return requests[a].ids.size() > requests[b].ids.size(); });
  for (std::size_t s = 0; s < alone.size(); s += step) {
    MicroBatch mb;
    mb.plain.assign(alone.begin() + s, alone.begin() + std::min(alone.size(), s + step));
    batches.push_back(std::move(mb));
  }
  return batches;
}

// ---- What travels with a micro-batch (host tensors) ----------------------------------------------

// Where one request's scored sequence lies in the hidden states of its pass: row `row`, positions
// first .. first+len-1 (a whole request in a plain pass; its suffix in a shared one).
struct Placement {
  int64_t request;
  int64_t row, first;
  const int32_t* ids;
  int64_t len;
  int64_t score_from;  // ids[score_from..] are scored
};

std::vector<Placement> placements(const std::vector<ScoreRequest>& requests, const MicroBatch& mb) {
  std::vector<Placement> out;
  for (std::size_t i = 0; i < mb.plain.size(); ++i) {
    const ScoreRequest& r = requests[mb.plain[i]];
    out.push_back({mb.plain[i], static_cast<int64_t>(i), 0, r.ids.data(), static_cast<int64_t>(r.ids.size()),
                   r.score_from});
  }
  for (std::size_t row = 0; row < mb.suffix_rows.size(); ++row) {
    int64_t first = 0;
    for (int64_t m : mb.suffix_rows[row].members) {
      // The last context token + the continuation: its first position predicts the first continuation token.
      const ScoreRequest& r = requests[m];
      out.push_back({m, static_cast<int64_t>(row), first, r.ids.data() + (r.score_from - 1), suffix_len(r), 1});
      first += suffix_len(r);
    }
  }
  return out;
}

// What the last rank needs to score one micro-batch: one int64 row per request, on the host:
// [row, first, len, score_from, n_candidates, candidates (C, -1 padded), ids (L, 0 padded)].
constexpr int64_t kMetaFixed = 5;

at::Tensor batch_meta(const std::vector<ScoreRequest>& requests, const std::vector<Placement>& places,
                      int64_t max_candidates) {
  int64_t max_len = 0;
  for (const Placement& p : places) max_len = std::max(max_len, p.len);
  const int64_t n = static_cast<int64_t>(places.size());
  at::Tensor meta = at::full({n, kMetaFixed + max_candidates + max_len}, -1, at::kLong);
  auto m = meta.accessor<int64_t, 2>();
  for (std::size_t i = 0; i < places.size(); ++i) {
    const Placement& p = places[i];
    const std::vector<int32_t>& cands = requests[p.request].candidates;
    m[i][0] = p.row;
    m[i][1] = p.first;
    m[i][2] = p.len;
    m[i][3] = p.score_from;
    m[i][4] = static_cast<int64_t>(cands.size());
    for (std::size_t c = 0; c < cands.size(); ++c) m[i][kMetaFixed + c] = cands[c];
    for (int64_t t = 0; t < max_len; ++t) m[i][kMetaFixed + max_candidates + t] = t < p.len ? p.ids[t] : 0;
  }
  return meta;
}

// The token ids of a pass: [rows, L] on the host, 0 padded, each placement at its row and offset.
at::Tensor pass_ids(const std::vector<Placement>& places) {
  int64_t rows = 0, len = 0;
  for (const Placement& p : places) {
    rows = std::max(rows, p.row + 1);
    len = std::max(len, p.first + p.len);
  }
  at::Tensor ids = at::zeros({rows, len}, at::kLong);
  auto a = ids.accessor<int64_t, 2>();
  for (const Placement& p : places)
    for (int64_t t = 0; t < p.len; ++t) a[p.row][p.first + t] = p.ids[t];
  return ids;
}

// Shared micro-batches: the prefixes' ids [G, P] (0 padded) on the host.
at::Tensor prefix_ids(const std::vector<ScoreRequest>& requests, const MicroBatch& mb) {
  const int64_t G = static_cast<int64_t>(mb.prefix_len.size());
  const int64_t P = *std::max_element(mb.prefix_len.begin(), mb.prefix_len.end());
  at::Tensor ids = at::zeros({G, P}, at::kLong);
  auto a = ids.accessor<int64_t, 2>();
  for (const SuffixRow& row : mb.suffix_rows) {
    const ScoreRequest& r = requests[row.members[0]];
    for (int64_t t = 0; t < mb.prefix_len[row.group]; ++t) a[row.group][t] = r.ids[t];
  }
  return ids;
}

// Travels rank to rank ahead of a micro-batch's hidden states, so every rank knows how to run it:
// [0, 2] for a plain micro-batch; for a shared one, per suffix row (R rows, S tokens, host int64)
// [group, prefix length, segment (S), position (S)] — segment: which of the row's sequences each
// token belongs to (-1: padding), position: its offset in that sequence.
at::Tensor batch_layout(const std::vector<ScoreRequest>& requests, const MicroBatch& mb) {
  if (!mb.shared()) return at::zeros({0, 2}, at::kLong);
  int64_t S = 0;
  for (const SuffixRow& row : mb.suffix_rows) S = std::max(S, row.len);
  at::Tensor layout = at::full({static_cast<int64_t>(mb.suffix_rows.size()), 2 + 2 * S}, -1, at::kLong);
  layout.narrow(1, 2 + S, S).zero_();
  auto a = layout.accessor<int64_t, 2>();
  for (std::size_t r = 0; r < mb.suffix_rows.size(); ++r) {
    const SuffixRow& row = mb.suffix_rows[r];
    a[r][0] = row.group;
    a[r][1] = mb.prefix_len[row.group];
    int64_t t = 0;
    for (std::size_t k = 0; k < row.members.size(); ++k)
      for (int64_t i = 0; i < suffix_len(requests[row.members[k]]); ++i, ++t) {
        a[r][2 + t] = static_cast<int64_t>(k);
        a[r][2 + S + t] = i;
      }
  }
  return layout;
}

// ---- Forward passes (every rank) ------------------------------------------------------------------

// The device this rank computes on: its blocks', else its embedding's or head's.
at::Device compute_device(const LlamaWeights& w) {
  if (!w.blocks.empty()) return w.blocks[0].q.device();
  return w.embedding.defined() ? w.embedding.device() : w.lm_head.device();
}

// RoPE tables for the longest sequence so far, on the compute device; shorter ones use a prefix.
class RopeCache {
 public:
  explicit RopeCache(const LlamaConfig& c) : config_(c) {}
  RopeTables get(int64_t len, const at::Tensor& like) {
    if (len > len_) {
      len_ = len;
      tables_ = rope_tables(config_, len, like.scalar_type(), like.device());
    }
    return {tables_.cos.narrow(0, 0, len), tables_.sin.narrow(0, 0, len)};
  }

 private:
  const LlamaConfig& config_;
  RopeTables tables_;
  int64_t len_ = 0;
};

// The pipeline neighbours of one micro-batch's forward passes: rank 0 embeds `ids` (host), the
// others receive from the rank before (on the host or the device: moved to the compute device);
// every rank but the last passes its output on.
struct Stage {
  const LlamaWeights& w;
  Communicator& comm;
  at::Device device;
  bool first, last;

  at::Tensor input(const at::Tensor& ids) const {  // -> [rows, L, hidden]
    if (first) return embed(w, ids.to(w.embedding.device()));
    return comm.recv(comm.rank() - 1).to(device);
  }
  void output(const at::Tensor& hidden) const {
    if (!last) comm.send(hidden, comm.rank() + 1);
  }
};

// A plain micro-batch through this rank's blocks: [rows, L, hidden] out.
at::Tensor run_plain(const Stage& s, const at::Tensor& ids, RopeCache& rope) {
  at::Tensor hidden = s.input(ids);
  const RopeTables r = rope.get(hidden.size(1), hidden);
  for (const BlockWeights& b : s.w.blocks) hidden = block_forward(b, s.w.config, hidden, r);
  s.output(hidden);
  return hidden;
}

// A shared micro-batch: the prefixes [G, P] through this rank's blocks keeping every block's
// keys/values (and on to the next rank), then the packed suffix rows [R, S] after them (layout:
// batch_layout's). Returns the suffixes' outputs [R, S, hidden].
at::Tensor run_shared(const Stage& s, const at::Tensor& prefix, const at::Tensor& suffix, const at::Tensor& layout,
                      RopeCache& rope) {
  const LlamaConfig& c = s.w.config;
  at::Tensor hidden = s.input(prefix);  // [G, P, hidden]
  const int64_t P = hidden.size(1);
  const RopeTables r = rope.get(P, hidden);
  const std::size_t n = s.w.blocks.size();
  std::vector<PrefixKV> kv(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (s.last && i + 1 == n) {  // the model's last block: its prefix outputs are never read
      kv[i] = block_prefix_kv(s.w.blocks[i], c, hidden, r);
    } else {
      hidden = block_forward_prefix(s.w.blocks[i], c, hidden, r, kv[i]);
    }
  }
  s.output(hidden);

  hidden = s.input(suffix);  // [R, S, hidden]
  const int64_t S = (layout.size(1) - 2) / 2;
  const SuffixLayout l = suffix_layout(c, layout.select(1, 0), layout.select(1, 1), layout.narrow(1, 2, S),
                                       layout.narrow(1, 2 + S, S), P, hidden.options());
  for (std::size_t i = 0; i < s.w.blocks.size(); ++i) hidden = block_forward_suffix(s.w.blocks[i], c, hidden, kv[i], l);
  s.output(hidden);
  return hidden;
}

// ---- Scoring (last rank) --------------------------------------------------------------------------

// Scores one micro-batch's requests from the last block's outputs hidden [rows, L, hidden] (on the
// device), with its meta (host, batch_meta's). Returns [requests, 1 + C] float64 on the host, one row
// per request: [logprob, candidate logprobs (NaN padded)]. The head runs only on the positions that
// are scored — positions score_from-1 .. len-2 of a request's sequence, or a candidate request's
// last — gathered from all rows into one GEMM per chunk (logits kept under ~1 GiB); cross_entropy
// gives each position's log-probability, summed per request in float64 on the device; one transfer
// to the host per micro-batch.
at::Tensor score_batch(const LlamaWeights& w, const at::Tensor& hidden, const at::Tensor& meta, int64_t max_candidates) {
  const int64_t b = meta.size(0), L = hidden.size(1), vocab = w.config.vocab_size;
  const at::Device dev = hidden.device();
  std::vector<int64_t> pos, target, row_of, cand_pos, cand_row;  // positions index hidden as [rows * L]
  std::vector<int64_t> cands;                                    // [candidate requests, C], -1 padded
  auto m = meta.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t base = m[i][0] * L + m[i][1], len = m[i][2], from = m[i][3], n_cand = m[i][4];
    if (n_cand > 0) {  // the distribution after the last token
      cand_pos.push_back(base + len - 1);
      cand_row.push_back(i);
      for (int64_t c = 0; c < max_candidates; ++c) cands.push_back(m[i][kMetaFixed + c]);
      continue;
    }
    for (int64_t t = from; t < len; ++t) {  // position t-1 predicts token t
      pos.push_back(base + t - 1);
      target.push_back(m[i][kMetaFixed + max_candidates + t]);
      row_of.push_back(i);
    }
  }
  const auto on_device = [&](const std::vector<int64_t>& v) {
    return at::tensor(at::ArrayRef<int64_t>(v), at::kLong).to(dev);
  };
  const at::Tensor flat = hidden.reshape({-1, hidden.size(2)});  // [rows * L, hidden]
  at::Tensor sums = at::zeros({b}, at::TensorOptions().dtype(at::kDouble).device(dev));
  if (!pos.empty()) {
    const at::Tensor p = on_device(pos), t = on_device(target), r = on_device(row_of);
    const int64_t n = p.size(0), chunk = std::max<int64_t>(1, (int64_t{1} << 28) / vocab);
    for (int64_t c0 = 0; c0 < n; c0 += chunk) {
      const int64_t cn = std::min(chunk, n - c0);
      const at::Tensor logits = head(w, flat.index_select(0, p.narrow(0, c0, cn)).unsqueeze(0))[0];  // [cn, vocab]
      const at::Tensor nll = at::cross_entropy_loss(logits, t.narrow(0, c0, cn), {}, at::Reduction::None);
      sums.index_add_(0, r.narrow(0, c0, cn), nll.to(at::kDouble), /*alpha=*/-1);
    }
  }
  at::Tensor out = at::full({b, 1 + max_candidates}, std::numeric_limits<double>::quiet_NaN(), sums.options());
  out.select(1, 0).copy_(sums);  // candidate rows: 0
  if (!cand_pos.empty()) {
    const int64_t nc = static_cast<int64_t>(cand_row.size());
    const at::Tensor lp = at::log_softmax(head(w, flat.index_select(0, on_device(cand_pos)).unsqueeze(0))[0], -1);
    const at::Tensor ci = on_device(cands).view({nc, max_candidates});       // [nc, C]
    const at::Tensor got = lp.gather(1, ci.clamp_min(0)).to(at::kDouble);   // [nc, C]
    const at::Tensor vals = at::where(ci >= 0, got, at::full_like(got, std::numeric_limits<double>::quiet_NaN()));
    out.narrow(1, 1, max_candidates).index_copy_(0, on_device(cand_row), vals);
  }
  return out.cpu();
}

}  // namespace

std::vector<ScoreResult> score_requests(const LlamaWeights& w, Communicator& comm,
                                        const std::vector<ScoreRequest>& requests, const ScoreOptions& opt) {
  c10::InferenceMode guard;
  const int rank = comm.rank(), size = comm.size(), last = size - 1;
  LOWBIT_CHECK(opt.micro_batch >= 1, "evaluation micro_batch must be >= 1");
  LOWBIT_CHECK(opt.suffix_row_tokens >= 1, "evaluation suffix_row_tokens must be >= 1");

  // Rank 0 plans the micro-batches; the other ranks learn their count and the candidate width.
  std::vector<MicroBatch> batches;
  int64_t max_candidates = 0;
  if (rank == 0) {
    max_candidates = check_requests(w, requests);
    batches = plan_batches(requests, opt);
  }
  const std::string header = comm.broadcast(std::to_string(batches.size()) + " " + std::to_string(max_candidates) + " " +
                                                std::to_string(requests.size()), 0);
  const int64_t n_batches = std::stoll(header);
  max_candidates = std::stoll(header.substr(header.find(' ') + 1));
  const int64_t n_requests = std::stoll(header.substr(header.rfind(' ') + 1));

  const Stage stage{w, comm, compute_device(w), rank == 0, rank == last};
  RopeCache rope(w.config);
  at::Tensor results;  // last rank: [requests, 1 + C] on the host
  if (rank == last) results = at::zeros({n_requests, 1 + max_candidates}, at::kDouble);
  int64_t done = 0;
  for (int64_t k = 0; k < n_batches; ++k) {
    // meta and index (the request of each meta row) go from rank 0 to the last rank; the layout
    // goes rank to rank ahead of the hidden states, so every rank knows how to run the batch.
    at::Tensor meta, index, layout, ids, prefix;  // ids, prefix: rank 0's token ids (host)
    if (rank == 0) {
      const MicroBatch& mb = batches[k];
      const std::vector<Placement> places = placements(requests, mb);
      meta = batch_meta(requests, places, max_candidates);
      std::vector<int64_t> members;
      for (const Placement& p : places) members.push_back(p.request);
      index = at::tensor(at::ArrayRef<int64_t>(members), at::kLong);
      layout = batch_layout(requests, mb);
      ids = pass_ids(places);
      if (mb.shared()) prefix = prefix_ids(requests, mb);
      if (last != 0) {
        comm.send(meta, last);
        comm.send(index, last);
      }
    } else {
      if (rank == last) {  // before the hidden states: with 2 ranks all of them come from rank 0, in this order
        meta = comm.recv(0);
        index = comm.recv(0);
      }
      layout = comm.recv(rank - 1);
    }
    if (rank != last) comm.send(layout, rank + 1);
    const at::Tensor hidden =
        layout.size(0) > 0 ? run_shared(stage, prefix, ids, layout, rope) : run_plain(stage, ids, rope);
    if (rank == last) results.index_copy_(0, index, score_batch(w, hidden, meta, max_candidates));
    done += rank == 0 ? index.size(0) : 0;
    if (rank == 0 && opt.progress) opt.progress(done, n_requests);
  }
  if (last != 0) {
    if (rank == last) comm.send(results, 0);
    if (rank == 0) results = comm.recv(last);
  }
  std::vector<ScoreResult> out;
  if (rank != 0) return out;
  out.resize(static_cast<std::size_t>(n_requests));
  auto res = results.accessor<double, 2>();  // host memory: made on the last rank's host, sent from there
  for (int64_t i = 0; i < n_requests; ++i) {
    out[i].logprob = res[i][0];
    for (std::size_t c = 0; c < requests[i].candidates.size(); ++c) out[i].candidate_logprobs.push_back(res[i][1 + c]);
  }
  return out;
}

}  // namespace lowbit
