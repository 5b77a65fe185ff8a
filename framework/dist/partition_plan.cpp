#include "framework/dist/partition_plan.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "framework/model/llama_arch.h"

namespace lowbit {
namespace {

uint64_t dtype_bytes(const std::string& d, const char* what) {
  if (d == "float32") return 4;
  if (d == "bfloat16" || d == "float16") return 2;
  LOWBIT_FAIL(what, " dtype must be float32, bfloat16 or float16, got '", d, "'");
}

uint64_t numel(const TensorSpec& t) {
  uint64_t n = 1;
  for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
  return n;
}

// Block counts per rank: rank k's range ends at the block boundary nearest to (k+1)/ranks of the
// model's bytes, counting the embedding before block 0 and the head after the last block; every
// rank keeps at least one block.
std::vector<int64_t> balance(int64_t blocks, uint64_t block_bytes, uint64_t first_extra, uint64_t last_extra, int ranks) {
  const double total = double(first_extra) + double(last_extra) + double(block_bytes) * double(blocks);
  std::vector<int64_t> ends(ranks);
  for (int k = 0; k < ranks; ++k) {
    if (k == ranks - 1) {
      ends[k] = blocks;
      break;
    }
    const double target = total * double(k + 1) / double(ranks);
    auto end = static_cast<int64_t>(std::llround((target - double(first_extra)) / double(block_bytes)));
    const int64_t lo = (k == 0 ? 0 : ends[k - 1]) + 1, hi = blocks - (ranks - 1 - k);
    ends[k] = std::clamp(end, lo, hi);
  }
  std::vector<int64_t> counts(ranks);
  for (int k = 0; k < ranks; ++k) counts[k] = ends[k] - (k == 0 ? 0 : ends[k - 1]);
  return counts;
}

}  // namespace

const RankPlan& PartitionPlan::owner_of_block(int64_t block) const {
  for (const RankPlan& r : ranks)
    if (block >= r.first_block && block < r.end_block) return r;
  LOWBIT_FAIL("block ", block, " is not in the plan");
}

RankPlan whole_model_plan(const LlamaConfig& c) {
  RankPlan r;
  r.end_block = c.num_hidden_layers;
  r.embedding = r.head = true;
  return r;
}

PartitionPlan make_partition_plan(const LlamaConfig& c, const PlanSettings& s) {
  LOWBIT_CHECK(s.ranks >= 1, "ranks must be >= 1, got ", s.ranks);
  LOWBIT_CHECK(s.ranks <= c.num_hidden_layers, s.ranks, " ranks for ", c.num_hidden_layers,
               " blocks: every rank needs at least one block");
  LOWBIT_CHECK(s.samples >= 1 && s.seq_len >= 1 && s.micro_batch >= 1, "calibration samples, seq_len and micro_batch must be >= 1");
  const uint64_t wb = dtype_bytes(s.weight_dtype, "weight"), ab = dtype_bytes(s.activation_dtype, "activation");
  uint64_t block = 0;
  for (const TensorSpec& t : block_tensors(c, 0)) block += numel(t) * wb;
  const uint64_t embedding = numel(embedding_tensor(c)) * wb;
  const uint64_t head = numel(final_norm_tensor(c)) * wb + numel(lm_head_tensor(c)) * wb;
  // Tied embeddings: the last rank still needs the matrix for its head.
  const std::vector<int64_t> counts = balance(c.num_hidden_layers, block, embedding, s.head ? head : 0, s.ranks);

  const uint64_t h = static_cast<uint64_t>(c.hidden_size), qd = static_cast<uint64_t>(c.q_dim()),
                 kv = static_cast<uint64_t>(c.kv_dim()), inter = static_cast<uint64_t>(c.intermediate_size);
  const uint64_t tokens = static_cast<uint64_t>(s.samples * s.seq_len);
  const uint64_t micro_tokens = static_cast<uint64_t>(s.micro_batch * s.seq_len);
  const uint64_t buffer = tokens * h * ab, transient = micro_tokens * (3 * h + qd + 2 * kv + 3 * inter) * 4;
  const uint64_t linear_inputs = s.linear_inputs ? tokens * (h + qd + h + inter) * ab : 0;
  const uint64_t hessians = s.hessians ? (h * h + qd * qd + h * h + inter * inter) * (s.hessians_f64 ? 12 : 4) : 0;
  const uint64_t max_in = std::max({h, qd, inter});
  uint64_t block_params = 0;
  for (const TensorSpec& t : block_tensors(c, 0)) block_params += numel(t);
  const uint64_t solver = s.hessians ? 4 * max_in * max_in * 4 + 4 * inter * h * 4 : 0;
  const uint64_t training = s.block_training ? block_params * 24 : 0;
  const uint64_t workspace = solver + block_params * (4 + 1) + block_params * 4 + training;
  const uint64_t training_activations = s.block_training ? 2 * buffer + transient : 0;

  PartitionPlan plan;
  int64_t next = 0;
  for (int r = 0; r < s.ranks; ++r) {
    RankPlan p;
    p.rank = r;
    p.first_block = next;
    p.end_block = next + counts[r];
    next = p.end_block;
    p.embedding = r == 0;
    p.head = s.head && r == s.ranks - 1;
    p.weight_bytes = block * static_cast<uint64_t>(counts[r]) + (p.embedding ? embedding : 0) + (p.head ? head : 0);
    const bool runs_ahead = s.full_precision && r + 1 < s.ranks;
    p.activation_bytes = (runs_ahead ? 3 : 2) * buffer + transient + linear_inputs + training_activations;
    p.hessian_bytes = hessians;
    p.workspace_bytes = workspace;
    plan.model_weight_bytes += p.weight_bytes;
    plan.ranks.push_back(p);
  }
  // A tied lm_head is the embedding: counted once for the model.
  if (c.tie_word_embeddings && s.ranks == 1 && s.head) plan.model_weight_bytes -= embedding, plan.ranks[0].weight_bytes -= embedding;
  return plan;
}

}  // namespace lowbit
