#include "evaluation/generation.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <numeric>

#include "framework/core/error.h"
#include "framework/dist/communicator.h"
#include "framework/model/llama_forward.h"

namespace lowbit {
namespace {

// Control messages from rank 0 down the pipeline (host int64 tensors): a new batch (its prompt
// lengths follow), a decoding step (the hidden states follow), the end of a batch, the end.
enum Control : int64_t { kBatch = 1, kStep = 2, kBatchDone = 3, kDone = 0 };

at::Tensor control(int64_t kind, const std::vector<int64_t>& payload = {}) {
  std::vector<int64_t> v{kind};
  v.insert(v.end(), payload.begin(), payload.end());
  return at::tensor(v, at::kLong);
}

// What every rank knows of the batch in flight: the prompts' lengths and its blocks' caches.
struct BatchState {
  std::vector<int64_t> lengths;
  int64_t padded = 0;  // the longest prompt; row i's prompt sits at [padded - lengths[i], padded)
  int64_t cached = 0;  // positions in the caches: the prompt, then one per step
  std::vector<KeysValues> cache;  // per block: [B, kv_heads, cached, head_dim]
  RopeTables rope;                // positions 0..rope.cos.size(0)-1, grown (doubling) as decoding goes on
};

// RoPE tables for per-row positions [B, T] (int64, host): cos/sin [B, 1, T, head_dim]. The batch's
// table is made once and only regrown when a position passes its end (each entry is a function of its
// position alone, so a longer table holds the same values).
RopeTables rope_at(const LlamaConfig& c, BatchState& s, const at::Tensor& positions, const at::Tensor& like) {
  const int64_t longest = positions.max().item<int64_t>() + 1;
  if (!s.rope.cos.defined() || s.rope.cos.size(0) < longest) {
    const int64_t have = s.rope.cos.defined() ? s.rope.cos.size(0) : 0;
    s.rope = rope_tables(c, std::max(longest, 2 * have), like.scalar_type(), like.device());
  }
  const at::Tensor index = positions.to(like.device());
  return {s.rope.cos.index({index}).unsqueeze(1), s.rope.sin.index({index}).unsqueeze(1)};
}

// Runs this rank's blocks over x [B, T, hidden] (the prefill when the cache is empty, else one step).
at::Tensor run_blocks(const LlamaWeights& w, BatchState& s, const at::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), P = s.cached;
  // Positions: each row counts from its first real token; padding sits at position 0.
  std::vector<int64_t> pads;
  for (int64_t length : s.lengths) pads.push_back(s.padded - length);
  const at::Tensor pad = at::tensor(pads, at::kLong).view({B, 1, 1});
  const at::Tensor query = at::arange(P, P + T, at::kLong).view({1, T, 1});  // each query's slot in the cache
  const at::Tensor key = at::arange(P + T, at::kLong).view({1, 1, P + T});
  const at::Tensor positions = (query - pad).clamp_min(0).view({B, T});
  // Mask [B, 1, T, P + T]: real keys, causally; a padding query sees itself only (never all -inf).
  at::Tensor mask = (key <= query).logical_and(key.ge(pad).logical_or(key.eq(query))).unsqueeze(1);
  const RopeTables rope = rope_at(w.config, s, positions, x);
  mask = mask.to(x.device());
  const bool prefill = P == 0;
  if (prefill) s.cache.assign(w.blocks.size(), KeysValues{});
  at::Tensor h = x;
  for (std::size_t b = 0; b < w.blocks.size(); ++b) {
    KeysValues& kv = s.cache[b];
    const int64_t kv_heads = w.config.num_key_value_heads, D = w.config.head_dim;
    if (prefill) kv = {at::empty({B, kv_heads, 0, D}, x.options()), at::empty({B, kv_heads, 0, D}, x.options())};
    const BlockPast past{kv.k, kv.v, mask};
    KeysValues own;
    h = block_forward(w.blocks[b], w.config, h, rope, nullptr, &past, &own);
    kv = {at::cat({kv.k, own.k}, 2), at::cat({kv.v, own.v}, 2)};
  }
  s.cached += T;
  return h;
}

// The next token of every row from the last rank's hidden states [B, T, hidden].
at::Tensor next_tokens(const LlamaWeights& w, const at::Tensor& h) {
  return head(w, h.slice(1, h.size(1) - 1)).squeeze(1).argmax(-1).to(at::kCPU, at::kLong);  // [B]
}

}  // namespace

std::vector<std::vector<int32_t>> generate_greedy(const LlamaWeights& w, Communicator& comm,
                                                  const std::vector<GenerationRequest>& requests,
                                                  const GenerationOptions& options) {
  c10::InferenceMode inference;
  const int rank = comm.rank(), last = comm.size() - 1;
  LOWBIT_CHECK(options.batch >= 1, "generation: batch must be >= 1, got ", options.batch);
  std::vector<std::vector<int32_t>> out;

  if (rank != 0) {  // follow rank 0's messages until the end
    BatchState s;
    for (;;) {
      const at::Tensor msg = comm.recv(rank - 1);
      if (rank != last) comm.send(msg, rank + 1);
      const int64_t kind = msg[0].item<int64_t>();
      if (kind == kDone) return out;
      if (kind == kBatch) {
        s = BatchState{};
        for (int64_t i = 1; i < msg.size(0); ++i) s.lengths.push_back(msg[i].item<int64_t>());
        s.padded = *std::max_element(s.lengths.begin(), s.lengths.end());
        continue;
      }
      if (kind == kBatchDone) continue;
      // kStep: the hidden states of this step (the prefill first).
      const at::Tensor h = run_blocks(w, s, comm.recv(rank - 1));
      if (rank == last) {
        comm.send(next_tokens(w, h), 0);
      } else {
        comm.send(h, rank + 1);
      }
    }
  }

  // Rank 0: order, batch, embed, drive.
  for (const GenerationRequest& r : requests) {
    LOWBIT_CHECK(!r.ids.empty(), "generation: a request with an empty prompt");
    LOWBIT_CHECK(r.max_new_tokens >= 1, "generation: max_new_tokens must be >= 1, got ", r.max_new_tokens);
    LOWBIT_CHECK(!r.embeds.defined() || r.embeds.size(0) == static_cast<int64_t>(r.ids.size()),
                 "generation: a request's embeddings cover ", r.embeds.defined() ? r.embeds.size(0) : 0, " positions, its prompt ",
                 r.ids.size());
  }
  std::vector<std::size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return requests[a].ids.size() > requests[b].ids.size(); });
  out.resize(requests.size());
  const auto is_stop = [&](int64_t t) {
    return std::find(options.stop_ids.begin(), options.stop_ids.end(), t) != options.stop_ids.end();
  };
  int64_t finished = 0;
  for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(options.batch)) {
    const std::vector<std::size_t> rows(order.begin() + static_cast<std::ptrdiff_t>(start),
                                        order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + options.batch)));
    const int64_t B = static_cast<int64_t>(rows.size());
    BatchState s;
    for (std::size_t i : rows) s.lengths.push_back(static_cast<int64_t>(requests[i].ids.size()));
    s.padded = s.lengths.front();
    if (last > 0) comm.send(control(kBatch, s.lengths), 1);
    // The prefill input: each prompt's embeddings, left-padded with zeros.
    at::Tensor x = at::zeros({B, s.padded, w.config.hidden_size}, w.embedding.options());
    for (int64_t i = 0; i < B; ++i) {
      const GenerationRequest& r = requests[rows[i]];
      at::Tensor own = options.prompt_embeds ? options.prompt_embeds(rows[i]) : r.embeds;
      LOWBIT_CHECK(!own.defined() || own.size(0) == s.lengths[i], "generation: request ", rows[i], "'s embeddings cover ",
                   own.defined() ? own.size(0) : 0, " positions, its prompt ", s.lengths[i]);
      const at::Tensor e = own.defined() ? own.to(x.device(), x.scalar_type())
                                         : embed(w, at::tensor(std::vector<int64_t>(r.ids.begin(), r.ids.end()), at::kLong).unsqueeze(0))[0];
      x[i].slice(0, s.padded - s.lengths[i]).copy_(e);
    }
    std::vector<bool> done(rows.size(), false);
    int64_t budget = 0;
    for (std::size_t i : rows) budget = std::max(budget, requests[i].max_new_tokens);
    for (int64_t step = 0; step < budget; ++step) {
      at::Tensor tokens;
      if (last == 0) {
        tokens = next_tokens(w, run_blocks(w, s, x));
      } else {
        comm.send(control(kStep), 1);
        comm.send(run_blocks(w, s, x), 1);
        tokens = comm.recv(last);
      }
      bool all_done = true;
      for (int64_t i = 0; i < B; ++i) {
        if (done[i]) continue;
        const int64_t t = tokens[i].item<int64_t>();
        const GenerationRequest& r = requests[rows[i]];
        if (is_stop(t)) {
          done[i] = true;
        } else {
          out[rows[i]].push_back(static_cast<int32_t>(t));
          done[i] = static_cast<int64_t>(out[rows[i]].size()) >= r.max_new_tokens;
        }
        all_done = all_done && done[i];
      }
      if (all_done) break;
      x = embed(w, tokens.unsqueeze(1));  // [B, 1, hidden]
    }
    if (last > 0) comm.send(control(kBatchDone), 1);
    finished += B;
    if (options.progress) options.progress(finished, static_cast<int64_t>(requests.size()));
  }
  if (last > 0) comm.send(control(kDone), 1);
  return out;
}

}  // namespace lowbit
